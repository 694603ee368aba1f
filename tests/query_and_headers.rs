//! What a handler reads from a request (query, path, headers, method,
//! version), checked end to end through the response body; and the `Date`
//! header the server adds. Nothing here is about sockets: the requests go
//! through the connection code over memory (`peregrine::testing`).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use peregrine::testing::{TestClient, TestResponse};
use peregrine::{Handler, Method, Request, Response, Version};

/// Sends `raw` on a new connection to `app` and returns the response.
fn request<H: Handler + Copy>(app: &H, raw: &[u8]) -> TestResponse {
    roundtrip(&mut TestClient::new(*app), raw)
}

/// Sends `raw` on `client`'s connection and returns the response.
fn roundtrip<H: Handler>(client: &mut TestClient<H>, raw: &[u8]) -> TestResponse {
    client.send(raw);
    client.response().unwrap_or_else(|| panic!("no response to {:?}", String::from_utf8_lossy(raw)))
}

/// Reports what it saw, one `key=value` per line.
fn report(req: &Request<'_>, res: &mut Response<'_>) {
    let q = req.query();
    match q.get("q") {
        Some(v) => writeln!(res, "q={v}").unwrap(),
        None => writeln!(res, "q=<none>").unwrap(),
    }
    writeln!(res, "q_is_hello_big_world={}", q.get("q").is_some_and(|v| v == "hello big world")).unwrap();
    writeln!(res, "path={}", req.path()).unwrap();
    writeln!(res, "path_decoded={}", req.path_decoded()).unwrap();
    let case = req.headers().get("X-CASE").map(String::from_utf8_lossy);
    writeln!(res, "x-case={}", case.as_deref().unwrap_or("<none>")).unwrap();
    let names: Vec<&str> = req.headers().iter().map(|(n, _)| n).collect();
    writeln!(res, "names={}", names.join(",")).unwrap();
    let method = match req.method() {
        Method::Other(m) => format!("other:{m}"),
        Method::Get => "GET".to_string(),
        m => format!("known:{m}"),
    };
    writeln!(res, "method={method}").unwrap();
    let version = match req.version() {
        Version::Http10 => "1.0",
        Version::Http11 => "1.1",
    };
    writeln!(res, "version={version}").unwrap();
}

fn lines(body: &[u8]) -> Vec<String> {
    String::from_utf8(body.to_vec()).unwrap().lines().map(String::from).collect()
}

#[test]
fn handler_sees_decoded_query_path_headers_method_and_version() {
    let server = report;
    let res = request(
        &server,
        b"GET /search/a%20b?x=1&q=hello+big%20world&q=second HTTP/1.1\r\nHost: h\r\nx-CaSe: Value One\r\n\r\n",
    );
    assert_eq!(res.status, 200);
    assert_eq!(
        lines(&res.body),
        [
            "q=hello big world",
            "q_is_hello_big_world=true",
            "path=/search/a%20b",
            "path_decoded=/search/a b",
            "x-case=Value One",
            "names=Host,x-CaSe",
            "method=GET",
            "version=1.1",
        ]
    );
}

#[test]
fn unknown_method_is_kept_verbatim_as_other() {
    let mut s = TestClient::new(report);
    let res = roundtrip(&mut s, b"PURGE /cache HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(res.status, 200);
    let body = lines(&res.body);
    assert!(body.contains(&"method=other:PURGE".to_string()), "{body:?}");
    assert!(body.contains(&"q=<none>".to_string()), "{body:?}");
    assert!(body.contains(&"x-case=<none>".to_string()), "{body:?}");
    // Methods are case-sensitive: `get` is not GET.
    let res = roundtrip(&mut s, b"get /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(lines(&res.body).contains(&"method=other:get".to_string()));
    let res = roundtrip(&mut s, b"DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(lines(&res.body).contains(&"method=known:DELETE".to_string()));
}

#[test]
fn http10_request_reports_version_10() {
    let server = report;
    let res = request(&server, b"GET /old?q=%41%2B HTTP/1.0\r\n\r\n");
    let body = lines(&res.body);
    assert!(body.contains(&"version=1.0".to_string()), "{body:?}");
    assert!(body.contains(&"q=A+".to_string()), "{body:?}");
    assert!(body.contains(&"names=".to_string()), "{body:?}");
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) strictly into
/// seconds since the epoch, checking the weekday matches the date.
fn parse_imf_fixdate(s: &str) -> Option<i64> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let b = s.as_bytes();
    if b.len() != 29 || &s[3..5] != ", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    if b[19] != b':' || b[22] != b':' || &s[25..] != " GMT" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = &s[r];
        if digits.bytes().all(|c| c.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            None
        }
    };
    let (day, year) = (num(5..7)?, num(12..16)?);
    let month = MONTHS.iter().position(|&m| m == &s[8..11])? as i64 + 1;
    let (h, mi, sec) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if DAYS[days.rem_euclid(7) as usize] != &s[..3] {
        return None;
    }
    Some(days * 86400 + h * 3600 + mi * 60 + sec)
}

#[test]
fn date_header_is_an_imf_fixdate_close_to_now() {
    assert_eq!(parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
    assert_eq!(parse_imf_fixdate("Mon, 06 Nov 1994 08:49:37 GMT"), None);
    let server = report;
    let res = request(&server, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let date = res.header("Date").expect("a Date header");
    assert_eq!(date.len(), 29, "{date:?}");
    assert!(date.ends_with(" GMT"), "{date:?}");
    let at = parse_imf_fixdate(date).unwrap_or_else(|| panic!("not an IMF-fixdate: {date:?}"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((at - now).abs() <= 60, "Date {date:?} is {} s away from now", at - now);
}

#[test]
fn decoded_paths_keep_encoded_separators_and_nul_encoded() {
    // A handler routing on the decoded path must not see `/admin%2Fx` as
    // `/admin/x`, nor a NUL it could pass to the file system.
    let server = report;
    for (target, decoded) in [
        ("/admin%2Fx", "/admin%2Fx"),
        ("/admin%2fx", "/admin%2fx"),
        ("/a%00b", "/a%00b"),
        ("/a%5Cb", "/a%5Cb"),
        ("/a%252Fb", "/a%252Fb"),
        ("/caf%C3%A9/%41", "/café/A"),
    ] {
        let res = request(&server, format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        let seen = lines(&res.body);
        assert!(seen.contains(&format!("path_decoded={decoded}")), "{target}: {seen:?}");
    }
}

/// Reports `req.host()`.
fn host(req: &Request<'_>, res: &mut Response<'_>) {
    let _ = write!(res, "{}", req.host().unwrap_or("<none>"));
}

#[test]
fn host_is_the_absolute_targets_authority_else_the_host_field() {
    let server = host;
    for (raw, want) in [
        ("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "example.com:8080"),
        ("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "[::1]:80"),
        ("GET / HTTP/1.1\r\nHost:\r\n\r\n", ""),
        ("GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n", "a.example"),
        ("GET https://A.example:8443?q HTTP/1.1\r\nHost: b.example\r\n\r\n", "A.example:8443"),
        ("GET / HTTP/1.0\r\n\r\n", "<none>"),
    ] {
        let res = request(&server, raw.as_bytes());
        assert_eq!(res.status, 200, "{raw:?}");
        assert_eq!(String::from_utf8_lossy(&res.body), want, "{raw:?}");
    }
}

/// Lists a form's fields as `key=value;`, or says there is no form.
fn form_fields(req: &Request<'_>, res: &mut Response<'_>) {
    match req.form() {
        Some(form) => {
            for (k, v) in form.iter() {
                write!(res, "{k}={v};").unwrap();
            }
        }
        None => write!(res, "no form").unwrap(),
    }
}

fn post(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST /f HTTP/1.1\r\nHost: a\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn url_encoded_form_bodies_are_read_like_queries() {
    let app = form_fields as fn(&Request<'_>, &mut Response<'_>);
    let form = "application/x-www-form-urlencoded";
    let fields = |ct: &str, body: &[u8]| request(&app, &post(ct, body)).text();
    assert_eq!(fields(form, b"a=1&b=x+y%21&&c"), "a=1;b=x y!;c=;");
    assert_eq!(fields("Application/X-WWW-Form-URLEncoded ; charset=UTF-8", b"a=%C3%A9"), "a=é;");
    assert_eq!(fields(form, b""), "", "an empty form has no fields");
    assert_eq!(fields("text/plain", b"a=1"), "no form");
    assert_eq!(fields("application/x-www-form-urlencodedx", b"a=1"), "no form");
    assert_eq!(fields(form, b"a=\xff"), "no form", "not UTF-8");
    let no_type = b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\na=1";
    assert_eq!(request(&app, no_type).text(), "no form");
}
