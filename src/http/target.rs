//! The request target's four forms (RFC 9112 §3.2) and the authority a
//! request names: `Host`'s `uri-host [ ":" port ]`, checked without
//! allocating, and the absolute form's authority, which wins over `Host`.

use super::method::Method;

/// What the request target is, once its form fits the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `/path?query`: the usual form.
    Origin,
    /// `http://authority/path?query`; the authority (non-empty, no
    /// userinfo) names the host instead of `Host` (RFC 9112 §3.2.2).
    Absolute,
    /// `host:port`, for `CONNECT` only.
    Authority,
    /// `*`, for `OPTIONS` only.
    Asterisk,
}

/// Classifies `target` for `method`; `None` when the form is not one the
/// method may use, or the target is none of the four (answered 400).
#[inline(always)]
pub fn classify(method: Method<'_>, target: &str) -> Option<Form> {
    if target.as_bytes()[0] == b'/' && method != Method::Connect {
        return Some(Form::Origin);
    }
    classify_other(method, target)
}

#[cold]
fn classify_other(method: Method<'_>, target: &str) -> Option<Form> {
    let connect = method == Method::Connect;
    match target.as_bytes()[0] {
        b'*' if target.len() == 1 => (method == Method::Options).then_some(Form::Asterisk),
        _ if connect => connect_target(target).then_some(Form::Authority),
        b'/' => None,
        _ => is_absolute(target).then_some(Form::Absolute),
    }
}

/// Whether `target` is in absolute form: an `http` or `https` URI with a
/// non-empty host and no userinfo (which RFC 9110 §4.2.4 says to treat as
/// an error).
fn is_absolute(target: &str) -> bool {
    let Some((scheme, authority, _)) = split_absolute(target) else { return false };
    // An empty host is invalid in an http URI (RFC 9110 §4.2.1).
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        && authority_parts(authority.as_bytes()).is_some_and(|(host, _)| !host.is_empty())
        && is_valid_host(authority.as_bytes())
}

/// `scheme://authority` and the rest (path and query) of a target in
/// absolute form, split at its first `://`: the scheme is everything
/// before it (so `http:/x://h` has the scheme `http:/x`, not `http`).
fn split_absolute(target: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = target.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some((scheme, &rest[..end], &rest[end..]))
}

/// The authority of a target in absolute form (`scheme://authority/…`),
/// as `classify` accepted it.
pub fn authority(target: &str) -> Option<&str> {
    split_absolute(target).map(|(_, authority, _)| authority)
}

/// `CONNECT`'s target: `uri-host ":" port` (RFC 9112 §3.2.3).
fn connect_target(target: &str) -> bool {
    let bytes = target.as_bytes();
    matches!(authority_parts(bytes), Some((host, Some(port))) if !host.is_empty() && !port.is_empty())
        && is_valid_host(bytes)
}

/// Splits `uri-host [ ":" port ]` at the port's colon (the first one, or
/// the one right after an IP literal's `]`); `None` if bytes follow a
/// literal's `]` that are not a port.
#[inline]
fn authority_parts(value: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let host_end = match value.first() {
        Some(b'[') => value.iter().position(|&b| b == b']')? + 1,
        _ => value.iter().position(|&b| b == b':').unwrap_or(value.len()),
    };
    match &value[host_end..] {
        [] => Some((value, None)),
        [b':', port @ ..] => Some((&value[..host_end], Some(port))),
        _ => None,
    }
}

/// Byte classes of an authority.
const REG_NAME: u8 = 1; // unreserved, sub-delims: a reg-name byte
const DIGIT: u8 = 2;
const HEX: u8 = 4;
const FUTURE: u8 = 8; // after `v…` in an IPvFuture: unreserved, sub-delims, ':'

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let unreserved = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        let sub_delim =
            matches!(c, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=');
        if unreserved || sub_delim {
            t[b] |= REG_NAME | FUTURE;
        }
        if c == b':' {
            t[b] |= FUTURE;
        }
        if c.is_ascii_digit() {
            t[b] |= DIGIT;
        }
        if c.is_ascii_hexdigit() {
            t[b] |= HEX;
        }
        b += 1;
    }
    t
};

/// Whether `value` is a valid `Host` field value: `uri-host [ ":" port ]`
/// (RFC 9112 §3.2, RFC 3986 §3.2.2), where the host is a reg-name (empty
/// allowed, for URIs without an authority), an IPv4 address, or an IP
/// literal in brackets, and the port is digits. All of it is ASCII. An
/// IPv6 zone (`[fe80::1%25eth0]`, RFC 6874) is not part of an HTTP URI's
/// grammar and is refused.
#[inline]
pub fn is_valid_host(value: &[u8]) -> bool {
    let Some((host, port)) = authority_parts(value) else { return false };
    port.unwrap_or_default().iter().all(|&b| CLASS[usize::from(b)] & DIGIT != 0)
        && match host {
            [b'[', literal @ .., b']'] => is_ip_literal(literal),
            _ => is_reg_name(host),
        }
}

/// The last `Host` value found valid. Clients repeat theirs on every
/// request, so a worker that remembers it checks most values with two
/// word compares instead of a scan; what it remembers changes no verdict.
#[derive(Debug, Clone)]
pub struct HostMemo {
    bytes: [u8; HostMemo::MAX],
    /// `usize::MAX` until a value is remembered (no value is that long).
    len: usize,
}

impl Default for HostMemo {
    fn default() -> Self {
        Self::new()
    }
}

impl HostMemo {
    /// Longest value remembered.
    const MAX: usize = 64;

    /// Remembers nothing yet.
    pub const fn new() -> Self {
        HostMemo { bytes: [0; HostMemo::MAX], len: usize::MAX }
    }

    /// [`is_valid_host`], remembering a valid value.
    #[inline(always)]
    pub fn is_valid(&mut self, value: &[u8]) -> bool {
        self.remembers(value) || self.check(value)
    }

    #[cold]
    #[inline(never)]
    fn check(&mut self, value: &[u8]) -> bool {
        let valid = is_valid_host(value);
        if valid && value.len() <= HostMemo::MAX {
            self.bytes[..value.len()].copy_from_slice(value);
            self.len = value.len();
        }
        valid
    }

    #[inline(always)]
    fn remembers(&self, value: &[u8]) -> bool {
        let n = value.len();
        if n != self.len {
            return false;
        }
        if (8..=16).contains(&n) {
            // The first and the last eight bytes (overlapping) cover it all.
            let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
            return word(value, 0) == word(&self.bytes, 0) && word(value, n - 8) == word(&self.bytes, n - 8);
        }
        value == &self.bytes[..n]
    }
}

/// `*( unreserved / pct-encoded / sub-delims )`; IPv4 addresses are
/// reg-names too, syntactically.
#[inline]
fn is_reg_name(host: &[u8]) -> bool {
    // No early exit: a fold over the table, no branch per byte.
    if host.iter().fold(true, |ok, &b| ok & (CLASS[usize::from(b)] & REG_NAME != 0)) {
        return true;
    }
    // Rare: percent-encoded bytes (`%` and two hex digits).
    let mut i = 0;
    while i < host.len() {
        match host[i] {
            b'%' if host.len() > i + 2 && is_hex(host[i + 1]) && is_hex(host[i + 2]) => i += 3,
            b if CLASS[usize::from(b)] & REG_NAME != 0 => i += 1,
            _ => return false,
        }
    }
    true
}

fn is_hex(b: u8) -> bool {
    CLASS[usize::from(b)] & HEX != 0
}

/// The inside of `[...]`: an IPv6 address (RFC 4291 §2.2 text forms,
/// which `std` parses without allocating) or an IPvFuture.
fn is_ip_literal(literal: &[u8]) -> bool {
    match literal {
        [b'v' | b'V', rest @ ..] => match rest.iter().position(|&b| b == b'.') {
            Some(dot) if dot > 0 && dot + 1 < rest.len() => {
                rest[..dot].iter().all(|&b| is_hex(b))
                    && rest[dot + 1..].iter().all(|&b| CLASS[usize::from(b)] & FUTURE != 0)
            }
            _ => false,
        },
        _ => std::str::from_utf8(literal).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok()),
    }
}

/// Strips `scheme://authority` from an absolute-form target, leaving the
/// path and query (`/` when the path is empty).
#[inline]
pub fn origin_form(target: &str) -> &str {
    if target.starts_with('/') {
        return target;
    }
    match split_absolute(target) {
        // From `?` on when the path is empty: `http://h?q`.
        Some((_, _, rest)) if !rest.is_empty() => rest,
        Some(_) => "/",
        None => target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_follow_rfc_3986() {
        for good in [
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "127.0.0.1:3000",
            "localhost:",
            "",
            "a-b_c~d.e",
            "xn--bcher-kva.example",
            "%41b.example",
            "!$&'()*+,;=",
            "[::1]",
            "[::1]:80",
            "[2001:db8::7]:443",
            "[::ffff:192.0.2.1]",
            "[fe80::1:2:3:4]",
            "[v1.fe80::a+en1]",
            "[V7.x:y]",
            "EXAMPLE.COM",
        ] {
            assert!(is_valid_host(good.as_bytes()), "{good:?} should be valid");
        }
        for bad in [
            "a b",
            "<script>",
            "[::1",
            "::1",
            "[::1]x",
            "[::1]:8a",
            "[]",
            "[::g]",
            "[1:2:3:4:5:6:7:8:9]",
            "[v.x]",
            "[v1.]",
            "[vz.x]",
            "example.com:abc",
            "example.com:80:80",
            "a@b",
            "user@host:80",
            "a/b",
            "a?b",
            "a#b",
            "a\\b",
            "%4",
            "%zz.example",
            "é.example",
            "a\"b",
            "a\tb",
        ] {
            assert!(!is_valid_host(bad.as_bytes()), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn the_memo_changes_no_verdict() {
        let mut memo = HostMemo::new();
        for value in [
            "a.example:80",
            "a b",
            "a.example:80",
            "a.example:8",
            "a.example:800",
            "",
            "x",
            "x y",
            "x",
            "[::1]:1",
        ] {
            assert_eq!(memo.is_valid(value.as_bytes()), is_valid_host(value.as_bytes()), "{value:?}");
            assert_eq!(memo.is_valid(value.as_bytes()), is_valid_host(value.as_bytes()), "{value:?} again");
        }
        let long = format!("{}.example", "a".repeat(100));
        assert!(memo.is_valid(long.as_bytes()) && memo.is_valid(long.as_bytes()));
        assert!(!memo.is_valid(format!("{long} ").as_bytes()));
    }

    #[test]
    fn forms_fit_their_methods() {
        assert_eq!(classify(Method::Get, "/a?b"), Some(Form::Origin));
        assert_eq!(classify(Method::Options, "*"), Some(Form::Asterisk));
        assert_eq!(classify(Method::Get, "*"), None);
        assert_eq!(classify(Method::Options, "*x"), None);
        assert_eq!(classify(Method::Get, "http://h:80/p?q"), Some(Form::Absolute));
        assert_eq!(authority("http://h:80/p?q"), Some("h:80"));
        assert_eq!(classify(Method::Get, "HTTPS://[::1]:8443"), Some(Form::Absolute));
        assert_eq!(authority("HTTPS://[::1]:8443"), Some("[::1]:8443"));
        assert_eq!(classify(Method::Get, "http://h?q"), Some(Form::Absolute));
        assert_eq!(authority("http://h?q"), Some("h"));
        assert_eq!(classify(Method::Get, "http:///p"), None, "an http URI needs a host");
        assert_eq!(classify(Method::Get, "http://:80/p"), None);
        assert_eq!(classify(Method::Get, "http://u@h/p"), None, "userinfo is an error");
        assert_eq!(classify(Method::Get, "ftp://h/p"), None);
        assert_eq!(
            classify(Method::Get, "http:/x://evil.example/"),
            None,
            "the scheme ends at the first ://"
        );
        assert_eq!(classify(Method::Get, "http:x://evil.example/"), None);
        assert_eq!(classify(Method::Get, "http://a b/"), None);
        assert_eq!(classify(Method::Get, "example.com:80"), None);
        assert_eq!(classify(Method::Get, "foo"), None);
        assert_eq!(classify(Method::Connect, "example.com:443"), Some(Form::Authority));
        assert_eq!(classify(Method::Connect, "[::1]:443"), Some(Form::Authority));
        assert_eq!(classify(Method::Connect, "example.com"), None);
        assert_eq!(classify(Method::Connect, "example.com:"), None);
        assert_eq!(classify(Method::Connect, "/"), None);
        assert_eq!(classify(Method::Connect, "[::1]"), None);
    }

    #[test]
    fn origin_form_of_each_target() {
        assert_eq!(origin_form("/a?b"), "/a?b");
        assert_eq!(origin_form("http://h:80/p?q"), "/p?q");
        assert_eq!(origin_form("http://h"), "/");
        assert_eq!(origin_form("http://h?q"), "?q");
        assert_eq!(origin_form("*"), "*");
    }
}
