//! `Accept-Encoding` (RFC 9110 §12.5.3): which precompressed variant of a
//! file a client takes.

use std::array;
use std::iter::Flatten;

use crate::http::tokens;

/// A content coding served from a precompressed file beside the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// Brotli, from `NAME.br`.
    Br,
    /// gzip, from `NAME.gz`.
    Gzip,
}

impl Coding {
    /// Its `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The suffix of its file.
    pub fn suffix(self) -> &'static [u8] {
        match self {
            Coding::Br => b".br",
            Coding::Gzip => b".gz",
        }
    }
}

/// The codings an `Accept-Encoding` field allows, best first: by
/// q-value, Brotli before gzip among equals. `lines` gives the field's
/// lines, which are one list (RFC 9110 §5.3). A coding with `q=0` is
/// refused; one not listed is allowed only through `*`; a q-value that
/// does not parse counts as 0; and a coding the client likes less than
/// identity (named, or else through `*`) is not taken (§12.5.3).
pub fn preferred<'a, I>(lines: impl Fn() -> I) -> Flatten<array::IntoIter<Option<Coding>, 2>>
where
    I: Iterator<Item = &'a [u8]>,
{
    let weight = |name: Name| weight(lines().flat_map(tokens::list), name);
    let identity = weight(Name::Identity);
    let taken = |coding: Coding| {
        let w = weight(Name::Coding(coding));
        (w > 0 && w >= identity).then_some((w, coding))
    };
    let (br, gzip) = (taken(Coding::Br), taken(Coding::Gzip));
    let order = if gzip.map(|g| g.0) > br.map(|b| b.0) { [gzip, br] } else { [br, gzip] };
    order.map(|taken| taken.map(|(_, coding)| coding)).into_iter().flatten()
}

/// What an element of `Accept-Encoding` can name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    Coding(Coding),
    /// No coding: weighed by name, else through `*` (RFC 9110 §12.5.3);
    /// 0 where neither is listed, so that any coding wins.
    Identity,
}

impl Name {
    fn is(self, name: &[u8]) -> bool {
        match self {
            Name::Coding(c) => {
                name.eq_ignore_ascii_case(c.token().as_bytes())
                    || (c == Coding::Gzip && name.eq_ignore_ascii_case(b"x-gzip"))
            }
            Name::Identity => name.eq_ignore_ascii_case(b"identity"),
        }
    }
}

/// How much the list `elements` wants `wanted`, in thousandths (0: not
/// at all, or not said).
fn weight<'a>(elements: impl Iterator<Item = &'a [u8]>, wanted: Name) -> u16 {
    let mut any = 0;
    for element in elements {
        let mut parts = element.split(|&b| b == b';');
        let name = parts.next().unwrap_or_default().trim_ascii();
        let q = parts.find_map(q_value).unwrap_or(Some(1000)).unwrap_or(0);
        if wanted.is(name) {
            return q;
        }
        if name == b"*" {
            any = q;
        }
    }
    any
}

/// A `q=` parameter's value in thousandths: `None` if `param` is another
/// parameter, `Some(None)` if it is a q-value that does not parse.
fn q_value(param: &[u8]) -> Option<Option<u16>> {
    let param = param.trim_ascii();
    let value = param.strip_prefix(b"q=").or_else(|| param.strip_prefix(b"Q="))?;
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    let (int, frac) = match value.iter().position(|&b| b == b'.') {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &b""[..]),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if frac.len() > 3 || !digits(frac) {
        return Some(None);
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + u16::from(frac.get(i).map_or(0, |d| d - b'0'));
    }
    Some(match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(accept: &str) -> Vec<&'static str> {
        lines_order(&[accept])
    }

    fn lines_order(lines: &[&str]) -> Vec<&'static str> {
        preferred(|| lines.iter().map(|l| l.as_bytes())).map(Coding::token).collect()
    }

    #[test]
    fn codings_are_chosen_by_q_value() {
        assert_eq!(order("gzip, deflate, br, zstd"), ["br", "gzip"]);
        assert_eq!(order("gzip"), ["gzip"]);
        assert_eq!(order("x-gzip"), ["gzip"]);
        assert_eq!(order("br;q=0, gzip"), ["gzip"]);
        assert_eq!(order("br;q=0.5, gzip;q=0.8"), ["gzip", "br"]);
        assert_eq!(order("BR;Q=1.000, GZIP;q=0.001"), ["br", "gzip"]);
        assert_eq!(order("*"), ["br", "gzip"]);
        assert_eq!(order("*;q=0, gzip"), ["gzip"]);
        assert_eq!(order("br;q=0, *"), ["gzip"]);
        assert!(order("identity").is_empty());
        assert!(order("").is_empty());
        assert!(order("gzip;q=0, br;q=0.000").is_empty());
        // Malformed q-values refuse the coding rather than guess.
        for bad in ["gzip;q=2", "gzip;q=1.5", "gzip;q=0.1234", "gzip;q=x", "gzip;q="] {
            assert!(order(bad).is_empty(), "{bad}");
        }
        // Other parameters do not matter.
        assert_eq!(order("gzip;level=9;q=0.3, br;q=0.2"), ["gzip", "br"]);
    }

    #[test]
    fn several_lines_are_one_list() {
        assert_eq!(lines_order(&["identity", "gzip"]), ["gzip"]);
        assert_eq!(lines_order(&["", "br;q=0.5", "gzip;q=0.8"]), ["gzip", "br"]);
        assert_eq!(lines_order(&["br;q=0", "*"]), ["gzip"]);
    }

    #[test]
    fn a_preferred_identity_wins_over_codings_it_outweighs() {
        assert_eq!(order("identity;q=1, gzip;q=0.2"), Vec::<&str>::new());
        assert_eq!(order("identity;q=0.5, gzip;q=0.8, br;q=0.2"), ["gzip"]);
        // Equal weights: the coding, which is smaller on the wire.
        assert_eq!(order("identity, gzip"), ["gzip"]);
        // `*` speaks for identity too, unless it is named.
        assert_eq!(order("*;q=0.3, identity;q=0.1"), ["br", "gzip"]);
        assert_eq!(order("*;q=0.8, gzip;q=0.2"), ["br"]);
        assert_eq!(order("identity;q=0, gzip"), ["gzip"]);
    }
}
