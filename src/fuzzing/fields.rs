//! Oracles for the field-value parsers: `Range`, HTTP-dates, entity-tag
//! lists, `Host`. Each is held against a plain model written from the
//! RFC's grammar with `str` methods, or against a round trip.

use crate::config::MAX_HEADERS_LIMIT;
use crate::fs::range::{self, ByteRange};
use crate::http::date;
use crate::http::head::{self, header_slots};
use crate::http::target::{is_valid_host, HostMemo};
use crate::http::tokens;

/// `Range` against a model of RFC 9110 §14.1.1 for a single range-spec
/// (several ranges, other units and anything malformed: the whole
/// representation). The first 8 bytes are the representation's size.
pub fn check_range(data: &[u8]) {
    let Some((size, value)) = data.split_first_chunk::<8>() else { return };
    // Small sizes are where the edges are; a few huge ones stay possible.
    let size = match u64::from_le_bytes(*size) {
        n if n >> 63 != 0 => n >> 1,
        n => n % 4096,
    };
    let got = range::parse(value, size);
    assert_eq!(got, range_model(value, size), "Range {:?} of {size} bytes", String::from_utf8_lossy(value));
    if let ByteRange::Part { start, end } = got {
        assert!(start <= end && end < size, "{start}-{end} of {size}");
    }
}

fn range_model(value: &[u8], size: u64) -> ByteRange {
    let whole = ByteRange::Whole;
    let Ok(value) = std::str::from_utf8(value) else { return whole };
    let Some((unit, set)) = value.split_once('=') else { return whole };
    // `range-unit "=" range-set`: no whitespace around the `=`.
    if !unit.eq_ignore_ascii_case("bytes") {
        return whole;
    }
    let specs: Vec<&str> = set
        .split(',')
        .map(|s| s.trim_matches(|c: char| c.is_ascii_whitespace()))
        .filter(|s| !s.is_empty())
        .collect();
    let [spec] = specs[..] else { return whole };
    let Some((first, last)) = spec.split_once('-') else { return whole };
    // Numbers of any length in order, as big integers would be.
    let in_order = |a: &str, b: &str| {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len() < b.len() || (a.len() == b.len() && a <= b)
    };
    // Digits; a number past u64 is past the end of any representation.
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().unwrap_or(u64::MAX))
    };
    match (first, number(first), number(last)) {
        ("", _, Some(0)) => ByteRange::Unsatisfiable,
        ("", _, Some(_)) if size == 0 => whole,
        ("", _, Some(n)) => ByteRange::Part { start: size - n.min(size), end: size - 1 },
        (_, Some(a), _)
            if a >= size && (last.is_empty() || number(last).is_some() && in_order(first, last)) =>
        {
            ByteRange::Unsatisfiable
        }
        (_, Some(a), None) if last.is_empty() => ByteRange::Part { start: a, end: size - 1 },
        (_, Some(a), Some(b)) if in_order(first, last) => ByteRange::Part { start: a, end: b.min(size - 1) },
        _ => whole,
    }
}

/// HTTP-dates round-trip: whatever parses renders to an IMF-fixdate that
/// parses to the same second and, for an IMF-fixdate, to the same text
/// but for the weekday (which the date decides) and a leap second; every second rendered
/// parses back. The first 8 bytes are also a time to render.
pub fn check_dates(data: &[u8]) {
    if let Some(secs) = data.first_chunk::<8>() {
        // Up to the year 9999, where rendering stops.
        let secs = u64::from_le_bytes(*secs) % 253_402_300_800; // 10000-01-01
        assert_eq!(date::parse(&date::render(secs)), Some(secs as i64), "{secs} does not round-trip");
    }
    let Some(secs) = date::parse(data) else { return };
    // Rendering starts at 1970: an earlier date is checked by its fields only.
    let rendered = match u64::try_from(secs) {
        Ok(secs) => date::render(secs),
        Err(_) => return check_fields_before_1970(data, secs),
    };
    assert_eq!(date::parse(&rendered), Some(secs));
    let text = data.trim_ascii();
    let shown = String::from_utf8_lossy(text);
    // The fields read are the fields written, in whichever form; a leap
    // second is read as the next second, so it renders as that.
    let (day, month, year, time) = match text {
        // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
        [_, _, _, b',', rest @ ..] => (&rest[1..3], &rest[4..7], &rest[8..12], &rest[13..21]),
        // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit year).
        _ if text.len() > 30 || text.contains(&b'-') => {
            let rest = &text[text.iter().position(|&b| b == b',').expect("a comma") + 1..];
            (&rest[1..3], &rest[4..7], &rest[8..10], &rest[11..19])
        }
        // asctime: `Sun Nov  6 08:49:37 1994` (day padded with a space).
        _ => (&text[8..10], &text[4..7], &text[20..24], &text[11..19]),
    };
    if &time[6..] == b"60" {
        return;
    }
    let day = [if day[0] == b' ' { b'0' } else { day[0] }, day[1]];
    assert_eq!(&rendered[5..7], &day, "day of {shown:?}");
    assert_eq!(&rendered[8..11], month, "month of {shown:?}");
    assert!(rendered[12..16].ends_with(year), "year of {shown:?}");
    assert_eq!(&rendered[17..25], time, "time of {shown:?}");
}

/// A date before 1970 (only the forms with four-digit years have one) is
/// the same date 400 years on, when the calendar repeats, less those
/// years' 146,097 days.
fn check_fields_before_1970(data: &[u8], secs: i64) {
    let text = data.trim_ascii();
    let year_at = match text {
        [_, _, _, b',', ..] => 12,
        _ => 20,
    };
    let digits = std::str::from_utf8(&text[year_at..year_at + 4]).expect("a parsed year is digits");
    let year: u32 = digits.parse().expect("a parsed year is a number");
    let mut later = text.to_vec();
    later[year_at..year_at + 4].copy_from_slice(format!("{:04}", year + 400).as_bytes());
    let shown = String::from_utf8_lossy(text);
    assert_eq!(date::parse(&later), Some(secs + 146_097 * 86_400), "{shown:?} 400 years on");
}

/// Entity-tag lists: tags built from the input, rendered into a list
/// with random weak prefixes, spaces and empty elements, are each found
/// by the weak comparison, and by the strong one exactly when some copy
/// has no `W/`; a tag not in the list is not; on the raw input, a match
/// is only ever a tag that appears in it.
pub fn check_entity_tags(data: &[u8]) {
    use tokens::Comparison::{Strong, Weak};
    let ours = b"\"peregrine-fuzz-tag\"";
    if tokens::has_entity_tag(data, ours, Weak) {
        let text = data.trim_ascii();
        assert!(text == b"*" || text.windows(ours.len()).any(|w| w == ours), "matched a tag not there");
    }
    // Tags from the input: etagc bytes only, split at the bytes that are not.
    let is_etagc = |b: u8| b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80;
    let tags: Vec<Vec<u8>> =
        data.split(|&b| !is_etagc(b)).map(|t| [&b"\""[..], t, b"\""].concat()).take(8).collect();
    let mut list = Vec::new();
    let mut strong = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let noise = data.get(i).copied().unwrap_or(0);
        list.extend_from_slice(&b" ,"[..usize::from(noise & 3).min(2)]);
        if noise & 4 != 0 {
            list.extend_from_slice(b"W/");
        } else {
            strong.push(tag);
        }
        list.extend_from_slice(tag);
        list.extend_from_slice(if noise & 8 != 0 { b" , " } else { b"," });
    }
    for tag in &tags {
        let shown = || format!("{:?} in {:?}", String::from_utf8_lossy(tag), String::from_utf8_lossy(&list));
        assert!(tokens::has_entity_tag(&list, tag, Weak), "weakly: {}", shown());
        assert_eq!(
            tokens::has_entity_tag(&list, tag, Strong),
            strong.contains(&tag),
            "strongly: {}",
            shown()
        );
    }
    if !tags.iter().any(|t| t == ours) {
        for comparison in [Weak, Strong] {
            assert!(
                !tokens::has_entity_tag(&list, ours, comparison),
                "found in {:?}",
                String::from_utf8_lossy(&list)
            );
        }
    }
}

/// `Host` values: the memo that skips the scan for a repeated value
/// changes no verdict, the verdict agrees with a model of RFC 3986
/// §3.2.2's grammar, and the head parser answers a request carrying the
/// value accordingly. The input is several values separated by `\n`.
pub fn check_host(data: &[u8]) {
    let mut memo = HostMemo::new();
    for value in data.split(|&b| b == b'\n') {
        let valid = is_valid_host(value);
        assert_eq!(memo.is_valid(value), valid, "the memo changed the verdict on {value:?}");
        assert_eq!(valid, host_model(value), "Host {:?}", String::from_utf8_lossy(value));
        let field_value = value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
        if field_value && value.first() != Some(&b' ') && value.last() != Some(&b' ') {
            let request = [&b"GET / HTTP/1.1\r\nHost: "[..], value, b"\r\n\r\n"].concat();
            let rules = head::Rules { max_headers: MAX_HEADERS_LIMIT, bare_lf: false };
            let mut slots = header_slots();
            let parsed = head::parse(&request, &mut slots, rules, &mut HostMemo::new()).is_ok();
            let value = value.trim_ascii();
            assert_eq!(
                parsed,
                is_valid_host(value),
                "request with Host {:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
}

/// `uri-host [ ":" port ]`, from RFC 3986's ABNF.
fn host_model(value: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(value) else { return false };
    let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    let sub_delim = |c: char| "!$&'()*+,;=".contains(c);
    let port_ok = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if let Some(rest) = value.strip_prefix('[') {
        let Some((literal, after)) = rest.split_once(']') else { return false };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(port_ok);
        let future = |l: &str| {
            let Some(l) = l.strip_prefix(['v', 'V']) else { return false };
            let Some((version, text)) = l.split_once('.') else { return false };
            !version.is_empty()
                && version.chars().all(|c| c.is_ascii_hexdigit())
                && !text.is_empty()
                && text.chars().all(|c| unreserved(c) || sub_delim(c) || c == ':')
        };
        return port_ok && (literal.parse::<std::net::Ipv6Addr>().is_ok() || future(literal));
    }
    let (host, port) = value.split_once(':').unwrap_or((value, ""));
    let mut chars = host.chars();
    while let Some(c) = chars.next() {
        let ok = match c {
            '%' => {
                chars.next().is_some_and(|h| h.is_ascii_hexdigit())
                    && chars.next().is_some_and(|l| l.is_ascii_hexdigit())
            }
            c => unreserved(c) || sub_delim(c),
        };
        if !ok {
            return false;
        }
    }
    port_ok(port)
}
