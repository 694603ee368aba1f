//! `multipart/form-data` (RFC 7578 over RFC 2046 §5.1), parsed as the body
//! arrives: [`Multipart::feed`] takes the body in pieces of any size, split
//! anywhere, and reports each part's head and the pieces of its content,
//! keeping no content and allocating nothing per part.

use std::fmt;

use super::query::Decoded;
use super::status::StatusCode;

/// Longest boundary (RFC 2046 §5.1.1).
const MAX_BOUNDARY: usize = 70;
/// `CRLF "--" boundary`.
const MAX_DELIMITER: usize = 4 + MAX_BOUNDARY;
/// Most header fields in one part's head.
const MAX_PART_HEADERS: usize = 16;
/// Largest part head limit.
const MAX_PART_HEAD: usize = 64 << 10;

/// Bounds on what a form may hold; each is answered `413` when passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one part's head (its header fields, at most 16 of them).
    /// 8 KiB by default, at most 64 KiB (a larger value counts as that).
    pub part_head: usize,
    /// Bytes of one part's content. Unbounded by default.
    pub part: u64,
    /// Bytes of the whole body: preamble, delimiters, part heads, content
    /// and epilogue. Unbounded by default.
    pub total: u64,
    /// Number of parts. 1,000 by default.
    pub parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { part_head: 8 << 10, part: u64::MAX, total: u64::MAX, parts: 1000 }
    }
}

/// What [`Multipart::feed`] finds, in order: a part's head, then the
/// pieces of its content (none for an empty part), then its end.
#[derive(Debug)]
pub enum Event<'a> {
    /// A part begins.
    Part(&'a Part<'a>),
    /// A piece of the current part's content (never empty).
    Data(&'a [u8]),
    /// The current part ended.
    PartEnd,
}

/// The head of one part of a form.
pub struct Part<'a> {
    name: &'a str,
    filename: Option<&'a str>,
    /// `filename*`, as sent.
    filename_ext: Option<&'a str>,
    content_type: Option<&'a str>,
    headers: &'a [httparse::Header<'a>],
}

impl<'a> Part<'a> {
    /// The form field's name (`Content-Disposition: form-data; name=…`).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The file name the client gave, if the part is a file. As sent
    /// (browsers percent-encode `"`, CR and LF in it, and send `\` as
    /// it is): never use it as a path without checking it.
    pub fn filename(&self) -> Option<&'a str> {
        self.filename
    }

    /// The file name of a `filename*` parameter (RFC 8187:
    /// `UTF-8''na%C3%AFve.txt`), percent-decoded lazily, when it is in
    /// UTF-8. RFC 7578 §4.2 tells senders not to use it, but some send a
    /// non-ASCII name only so (Python's urllib3 1.x); browsers send
    /// [`filename`](Part::filename). Never use it as a path unchecked.
    ///
    /// ```
    /// use peregrine::multipart::{Event, Limits, Multipart};
    ///
    /// let body = b"--B\r\nContent-Disposition: form-data; name=f; filename*=UTF-8''na%C3%AFve.txt\r\n\r\nx\r\n--B--";
    /// let mut form = Multipart::new(b"multipart/form-data; boundary=B", Limits::default()).unwrap();
    /// let mut name = String::new();
    /// form.feed(body, &mut |event| {
    ///     if let Event::Part(part) = event {
    ///         assert_eq!(part.filename(), None);
    ///         name = part.filename_ext().unwrap().to_string();
    ///     }
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(name, "naïve.txt");
    /// ```
    pub fn filename_ext(&self) -> Option<Decoded<'a>> {
        let mut fields = self.filename_ext?.splitn(3, '\'');
        let (charset, _language, encoded) = (fields.next()?, fields.next()?, fields.next()?);
        charset.eq_ignore_ascii_case("utf-8").then(|| Decoded::segment(encoded))
    }

    /// The part's `Content-Type`, if it has one (`text/plain` is meant
    /// when it has not, RFC 7578 §4.4).
    pub fn content_type(&self) -> Option<&'a str> {
        self.content_type
    }

    /// The value of the part's header field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }
}

impl fmt::Debug for Part<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part")
            .field("name", &self.name)
            .field("filename", &self.filename)
            .field("filename_ext", &self.filename_ext)
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// Where the parser stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter; `matched` bytes of it seen (it starts
    /// at 2: the body's start stands for the delimiter's CRLF).
    Preamble { matched: usize },
    /// Right after a delimiter: `--` ends the form, else padding and CRLF
    /// begin a part. `dash`: one `-` seen.
    Delimited { dash: bool },
    /// Transport padding after a delimiter; `cr`: its CR seen.
    Padding { cr: bool },
    /// A part's head, gathered into the head buffer.
    Head,
    /// The start of a part's content, `matched` bytes of `--boundary`
    /// seen: there, the head's empty line doubles as the delimiter's CRLF
    /// (RFC 2046 §5.1.1: `body-part := MIME-part-headers [CRLF *OCTET]`),
    /// so a part may be empty with no line of its own.
    Fresh { matched: usize },
    /// A part's content; `matched` bytes of a delimiter held back.
    Data { matched: usize },
    /// After the final delimiter: the epilogue, ignored.
    Done,
}

/// An incremental `multipart/form-data` parser.
///
/// ```
/// use peregrine::multipart::{Event, Limits, Multipart};
///
/// let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n\
///              --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n\
///              Content-Type: text/plain\r\n\r\nfile\r\n--XyZ--\r\n";
/// let mut form = Multipart::new(b"multipart/form-data; boundary=XyZ", Limits::default()).unwrap();
/// let mut seen = Vec::new();
/// // Fed in pieces of 3 bytes: the result is the same however it is split.
/// for piece in body.chunks(3) {
///     form.feed(piece, &mut |event| {
///         match event {
///             Event::Part(part) => seen.push(format!("{}:{:?}:", part.name(), part.filename())),
///             Event::Data(data) => seen.last_mut().unwrap().push_str(std::str::from_utf8(data).unwrap()),
///             Event::PartEnd => {}
///         }
///         Ok(())
///     })
///     .unwrap();
/// }
/// form.finish().unwrap();
/// assert_eq!(seen, ["a:None:hello", "f:Some(\"x.txt\"):file"]);
/// ```
pub struct Multipart {
    /// `CRLF "--" boundary`, `delimiter_len` bytes of it.
    delimiter: [u8; MAX_DELIMITER],
    delimiter_len: usize,
    state: State,
    /// A part's head as it arrives.
    head: Box<[u8]>,
    head_len: usize,
    limits: Limits,
    part_len: u64,
    total: u64,
    parts: usize,
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart").field("state", &self.state).field("parts", &self.parts).finish()
    }
}

impl Multipart {
    /// A parser for a body of `content_type` (the request's
    /// `Content-Type` value): `415` unless it is `multipart/form-data`,
    /// `400` without a valid `boundary` parameter. Allocates the part head
    /// buffer (`limits.part_head` bytes) once.
    pub fn new(content_type: &[u8], limits: Limits) -> Result<Self, StatusCode> {
        let (media_type, params) = split_media_type(content_type);
        if !media_type.eq_ignore_ascii_case(b"multipart/form-data") {
            return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        let mut boundary = None;
        for (name, value) in Params(params) {
            if name.eq_ignore_ascii_case(b"boundary") && boundary.is_none() {
                boundary = Some(value);
            }
        }
        let boundary = boundary.filter(|b| is_boundary(b)).ok_or(StatusCode::BAD_REQUEST)?;
        let mut delimiter = [0u8; MAX_DELIMITER];
        delimiter[..4].copy_from_slice(b"\r\n--");
        delimiter[4..4 + boundary.len()].copy_from_slice(boundary);
        let limits = Limits { part_head: limits.part_head.min(MAX_PART_HEAD), ..limits };
        Ok(Multipart {
            delimiter,
            delimiter_len: 4 + boundary.len(),
            state: State::Preamble { matched: 2 },
            head: vec![0; limits.part_head].into_boxed_slice(),
            head_len: 0,
            limits,
            part_len: 0,
            total: 0,
            parts: 0,
        })
    }

    /// Takes the next piece of the body, calling `on` with what it
    /// completes. An `Err` is the status to refuse the form with: `400`
    /// for malformed framing or a part without a name, `413` past a
    /// limit, or what `on` returned.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        on: &mut impl FnMut(Event<'_>) -> Result<(), StatusCode>,
    ) -> Result<(), StatusCode> {
        self.total += input.len() as u64;
        if self.total > self.limits.total {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        while !input.is_empty() {
            let used = match self.state {
                State::Preamble { matched } => {
                    let delimiter = &self.delimiter[..self.delimiter_len];
                    let (found, used, matched) = search(delimiter, input, matched, &mut |_| Ok(()))?;
                    self.state =
                        if found { State::Delimited { dash: false } } else { State::Preamble { matched } };
                    used
                }
                State::Fresh { matched } => self.fresh(matched, input, on)?,
                State::Data { matched } => {
                    // Content, up to a delimiter: passed on, counted and bounded.
                    let (limit, part_len) = (self.limits.part, &mut self.part_len);
                    let delimiter = &self.delimiter[..self.delimiter_len];
                    let mut pass = |data: &[u8]| content(data, part_len, limit, on);
                    let (found, used, matched) = search(delimiter, input, matched, &mut pass)?;
                    if found {
                        on(Event::PartEnd)?;
                    }
                    self.state =
                        if found { State::Delimited { dash: false } } else { State::Data { matched } };
                    used
                }
                State::Head => self.gather_head(input, on)?,
                State::Done => input.len(),
                state => {
                    self.step(state, input[0])?;
                    1
                }
            };
            input = &input[used..];
        }
        Ok(())
    }

    /// At the start of a part's content: a delimiter without its CRLF ends
    /// an empty part; else what looked like one is content. The bytes
    /// used (none when the content starts, to be searched as such).
    fn fresh(
        &mut self,
        matched: usize,
        input: &[u8],
        on: &mut impl FnMut(Event<'_>) -> Result<(), StatusCode>,
    ) -> Result<usize, StatusCode> {
        let dash_boundary = &self.delimiter[2..self.delimiter_len];
        let want = &dash_boundary[matched..];
        let n = want.len().min(input.len());
        if input[..n] == want[..n] {
            self.state = if n == want.len() {
                on(Event::PartEnd)?;
                State::Delimited { dash: false }
            } else {
                State::Fresh { matched: matched + n }
            };
            return Ok(n);
        }
        if matched > 0 {
            content(&dash_boundary[..matched], &mut self.part_len, self.limits.part, on)?;
        }
        self.state = State::Data { matched: 0 };
        Ok(0)
    }

    /// The body ended: `400` unless the final delimiter came.
    pub fn finish(&self) -> Result<(), StatusCode> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(StatusCode::BAD_REQUEST),
        }
    }

    /// Whether the final delimiter came.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// One byte after a delimiter.
    fn step(&mut self, state: State, b: u8) -> Result<(), StatusCode> {
        self.state = match (state, b) {
            (State::Delimited { dash: false }, b'-') => State::Delimited { dash: true },
            (State::Delimited { dash: true }, b'-') => State::Done,
            (State::Delimited { dash: false } | State::Padding { cr: false }, b' ' | b'\t') => {
                State::Padding { cr: false }
            }
            (State::Delimited { dash: false } | State::Padding { cr: false }, b'\r') => {
                State::Padding { cr: true }
            }
            (State::Padding { cr: true }, b'\n') => {
                self.parts += 1;
                if self.parts > self.limits.parts {
                    return Err(StatusCode::PAYLOAD_TOO_LARGE);
                }
                self.head_len = 0;
                State::Head
            }
            _ => return Err(StatusCode::BAD_REQUEST),
        };
        Ok(())
    }

    /// Gathers a part's head up to its empty line, then reports the part.
    fn gather_head(
        &mut self,
        input: &[u8],
        on: &mut impl FnMut(Event<'_>) -> Result<(), StatusCode>,
    ) -> Result<usize, StatusCode> {
        for (i, &b) in input.iter().enumerate() {
            if self.head_len == self.limits.part_head {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            self.head[self.head_len] = b;
            self.head_len += 1;
            let head = &self.head[..self.head_len];
            if head == b"\r\n" || head.ends_with(b"\r\n\r\n") {
                self.begin_part(on)?;
                return Ok(i + 1);
            }
        }
        Ok(input.len())
    }

    /// A part's head is whole: parsed, and reported.
    fn begin_part(
        &mut self,
        on: &mut impl FnMut(Event<'_>) -> Result<(), StatusCode>,
    ) -> Result<(), StatusCode> {
        let raw = &self.head[..self.head_len];
        let mut slots = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
        let headers = match httparse::parse_headers(raw, &mut slots) {
            Ok(httparse::Status::Complete((_, headers))) => headers,
            Err(httparse::Error::TooManyHeaders) => return Err(StatusCode::PAYLOAD_TOO_LARGE),
            _ => return Err(StatusCode::BAD_REQUEST),
        };
        let field = |name: &str| headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
        let disposition = field("content-disposition").ok_or(StatusCode::BAD_REQUEST)?;
        let (kind, params) = split_media_type(disposition);
        if !kind.eq_ignore_ascii_case(b"form-data") {
            return Err(StatusCode::BAD_REQUEST);
        }
        let (mut name, mut filename, mut filename_ext) = (None, None, None);
        for (key, value) in Params(params) {
            let slot = match key {
                _ if key.eq_ignore_ascii_case(b"name") => &mut name,
                _ if key.eq_ignore_ascii_case(b"filename") => &mut filename,
                _ if key.eq_ignore_ascii_case(b"filename*") => &mut filename_ext,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        let name = text(name.ok_or(StatusCode::BAD_REQUEST)?)?;
        let filename = filename.map(text).transpose()?;
        let filename_ext = filename_ext.map(text).transpose()?;
        let content_type = field("content-type").map(text).transpose()?;
        let part = Part { name, filename, filename_ext, content_type, headers };
        self.part_len = 0;
        on(Event::Part(&part))?;
        self.state = State::Fresh { matched: 0 };
        Ok(())
    }
}

/// Passes on a part's content, counted against its limit.
fn content(
    data: &[u8],
    part_len: &mut u64,
    limit: u64,
    on: &mut impl FnMut(Event<'_>) -> Result<(), StatusCode>,
) -> Result<(), StatusCode> {
    *part_len += data.len() as u64;
    if *part_len > limit {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    on(Event::Data(data))
}

/// Searches `input` for `delimiter`, `matched` bytes of which ended the
/// input before; passes on (`pass`) what cannot be part of it. Returns
/// whether it was found, the bytes used (up to its end, if found), and how
/// much of it ends the input otherwise.
///
/// The delimiter holds one CR, at its start (a boundary has none), so a
/// match can only start at a CR: a partial match that fails is content,
/// all of it, and the search goes on from the byte that broke it.
fn search(
    delimiter: &[u8],
    input: &[u8],
    matched: usize,
    pass: &mut impl FnMut(&[u8]) -> Result<(), StatusCode>,
) -> Result<(bool, usize, usize), StatusCode> {
    if matched > 0 {
        let want = &delimiter[matched..];
        let n = want.len().min(input.len());
        if input[..n] == want[..n] {
            return Ok(if n == want.len() { (true, n, 0) } else { (false, n, matched + n) });
        }
        // What was held back was content after all.
        pass(&delimiter[..matched])?;
    }
    let mut at = 0;
    while let Some(cr) = input[at..].iter().position(|&b| b == b'\r') {
        let p = at + cr;
        let n = delimiter.len().min(input.len() - p);
        if input[p..p + n] == delimiter[..n] {
            if p > 0 {
                pass(&input[..p])?;
            }
            return Ok(if n == delimiter.len() { (true, p + n, 0) } else { (false, input.len(), n) });
        }
        at = p + 1;
    }
    if !input.is_empty() {
        pass(input)?;
    }
    Ok((false, input.len(), 0))
}

/// UTF-8 text, or `400`.
fn text(b: &[u8]) -> Result<&str, StatusCode> {
    std::str::from_utf8(b).map_err(|_| StatusCode::BAD_REQUEST)
}

/// A media type (or disposition type) and what follows its first `;`.
fn split_media_type(value: &[u8]) -> (&[u8], &[u8]) {
    let at = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    (value[..at].trim_ascii(), value.get(at + 1..).unwrap_or(&[]))
}

/// `; name=value` parameters (RFC 9110 §5.6.6), value a token or a
/// quoted string; ends at the first that does not parse.
///
/// A quoted value ends at the next `"`: a backslash is kept as it is, not
/// taken to escape what follows. That is how browsers write form-data
/// (the HTML standard's encoding, which percent-encodes `"`, CR and LF in
/// names and file names instead, and sends a file name such as `a\b`
/// as it is), and how current curl and Python's `requests` do.
struct Params<'a>(&'a [u8]);

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.0;
        let mut i = s.iter().position(|&b| !matches!(b, b' ' | b'\t' | b';'))?;
        let name_start = i;
        while i < s.len() && s[i] != b'=' && s[i] != b';' {
            i += 1;
        }
        let name = s[name_start..i].trim_ascii();
        if s.get(i) != Some(&b'=') || name.is_empty() {
            self.0 = &[];
            return None;
        }
        i += 1;
        while matches!(s.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let value = if s.get(i) == Some(&b'"') {
            let start = i + 1;
            let Some(len) = s[start..].iter().position(|&b| b == b'"') else {
                self.0 = &[];
                return None;
            };
            i = start + len + 1;
            &s[start..start + len]
        } else {
            let start = i;
            while i < s.len() && s[i] != b';' {
                i += 1;
            }
            s[start..i].trim_ascii()
        };
        // Up to the next `;`.
        while i < s.len() && s[i] != b';' {
            i += 1;
        }
        self.0 = &s[i..];
        Some((name, value))
    }
}

/// A boundary RFC 2046 §5.1.1 allows: 1–70 of its characters, not ending
/// in a space.
fn is_boundary(b: &[u8]) -> bool {
    let allowed = |c: &u8| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(c);
    (1..=MAX_BOUNDARY).contains(&b.len()) && b.iter().all(allowed) && b.last() != Some(&b' ')
}
