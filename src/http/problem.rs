//! Problem details for HTTP APIs (RFC 9457): an error answered as an
//! `application/problem+json` object, written without allocating.

use std::io::{self, Write};

use super::status::StatusCode;

/// The media type of a problem details object.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A problem details object (RFC 9457 §3), for
/// [`Response::problem`](crate::Response::problem).
///
/// Its `type` is `about:blank` unless set, and its `title` then the
/// status's reason phrase, as §4.2.1 asks; `detail` and `instance` are
/// left out unless set.
///
/// ```
/// use peregrine::{Problem, StatusCode};
///
/// let problem = Problem::new(StatusCode::FORBIDDEN)
///     .detail("Your current balance is 30, but that costs 50.")
///     .instance("/account/12345/msgs/abc");
/// let mut json = Vec::new();
/// problem.write_json(&mut json).unwrap();
/// assert_eq!(
///     String::from_utf8(json).unwrap(),
///     r#"{"type":"about:blank","title":"Forbidden","status":403,"detail":"Your current balance is 30, but that costs 50.","instance":"/account/12345/msgs/abc"}"#
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Problem<'a> {
    status: StatusCode,
    type_uri: &'a str,
    title: Option<&'a str>,
    detail: Option<&'a str>,
    instance: Option<&'a str>,
}

impl<'a> Problem<'a> {
    /// A problem of type `about:blank` with `status`.
    pub fn new(status: StatusCode) -> Self {
        Problem { status, type_uri: "about:blank", title: None, detail: None, instance: None }
    }

    /// A URI reference naming the problem type (§3.1.1).
    pub fn type_uri(mut self, uri: &'a str) -> Self {
        self.type_uri = uri;
        self
    }

    /// A short summary of the problem type (§3.1.3); by default the
    /// status's reason phrase.
    pub fn title(mut self, title: &'a str) -> Self {
        self.title = Some(title);
        self
    }

    /// An explanation of this occurrence (§3.1.4).
    pub fn detail(mut self, detail: &'a str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// A URI reference naming this occurrence (§3.1.5).
    pub fn instance(mut self, uri: &'a str) -> Self {
        self.instance = Some(uri);
        self
    }

    /// The status it is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Writes the JSON object to `out`, strings escaped (RFC 8259 §7).
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(b"{\"type\":")?;
        json_string(out, self.type_uri)?;
        let title = self.title.or(Some(self.status.reason()).filter(|r| !r.is_empty()));
        if let Some(title) = title {
            out.write_all(b",\"title\":")?;
            json_string(out, title)?;
        }
        write!(out, ",\"status\":{}", self.status.as_u16())?;
        for (name, value) in [("detail", self.detail), ("instance", self.instance)] {
            if let Some(value) = value {
                write!(out, ",\"{name}\":")?;
                json_string(out, value)?;
            }
        }
        out.write_all(b"}")
    }
}

/// `s` as a JSON string: `"` and `\` escaped, control characters as
/// `\u00XX`; the rest (UTF-8) as it is.
fn json_string(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F => b"",
            _ => continue,
        };
        out.write_all(&s.as_bytes()[plain..i])?;
        match escaped {
            b"" => write!(out, "\\u{b:04x}")?,
            e => out.write_all(e)?,
        }
        plain = i + 1;
    }
    out.write_all(&s.as_bytes()[plain..])?;
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(p: Problem<'_>) -> String {
        let mut out = Vec::new();
        p.write_json(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn defaults_follow_the_rfc() {
        assert_eq!(
            json(Problem::new(StatusCode::NOT_FOUND)),
            r#"{"type":"about:blank","title":"Not Found","status":404}"#
        );
        let unregistered = StatusCode::from_u16(499).unwrap();
        assert_eq!(json(Problem::new(unregistered)), r#"{"type":"about:blank","status":499}"#);
        let typed = Problem::new(StatusCode::BAD_REQUEST).type_uri("https://example.com/probs/out-of-credit");
        assert_eq!(
            json(typed.title("You do not have enough credit.")),
            r#"{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","status":400}"#
        );
    }

    #[test]
    fn strings_are_escaped() {
        let p = Problem::new(StatusCode::BAD_REQUEST).detail("a \"quoted\" \\ path\nand\u{1}é");
        assert_eq!(
            json(p),
            r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"a \"quoted\" \\ path\nand\u0001é"}"#
        );
    }
}
