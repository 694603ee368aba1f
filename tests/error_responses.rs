//! `Handler::error_response`: the statuses the server answers on its own
//! carry what the application adds (headers, a body), keep their status,
//! and still close the connection; a hook that fails leaves the plain
//! error. Through the real connection code (`peregrine::testing`).

use std::sync::Mutex;

use peregrine::testing::TestClient;
use peregrine::{Handler, Problem, Request, Response, StatusCode};

/// Answers problems for errors; records what each hook call was given.
#[derive(Default)]
struct Api {
    seen: Mutex<Vec<(u16, Option<String>)>>,
}

impl Handler for Api {
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        if req.path() == "/panic" {
            panic!("a handler failing on purpose");
        }
        res.body(b"fine");
    }

    fn error_response(&self, status: StatusCode, req: Option<&Request<'_>>, res: &mut Response<'_>) {
        self.seen.lock().unwrap().push((status.as_u16(), req.map(|r| r.path().to_owned())));
        res.header("X-Error", "shaped").problem(&Problem::new(status).detail("see the docs"));
    }
}

fn problem_json(status: u16, title: &str) -> String {
    format!(r#"{{"type":"about:blank","title":"{title}","status":{status},"detail":"see the docs"}}"#)
}

#[test]
fn the_servers_own_errors_carry_what_the_application_adds() {
    let cases: [(&[u8], u16, &str); 3] = [
        (b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400, "Bad Request"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n", 413, "Content Too Large"),
        (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, "HTTP Version Not Supported"),
    ];
    for (raw, status, title) in cases {
        let mut client = TestClient::new(Api::default());
        client.send(raw);
        let res = client.response().unwrap();
        assert_eq!(res.status, status);
        assert_eq!(res.header("x-error"), Some("shaped"));
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
        assert_eq!(res.header("connection"), Some("close"));
        assert_eq!(res.text(), problem_json(status, title));
        assert!(!client.is_open(), "closed after {status} all the same");
        assert_eq!(*client.handler().seen.lock().unwrap(), [(status, None)], "no request to trust");
    }
}

#[test]
fn a_panicking_handler_s_500_is_shaped_with_its_request() {
    let mut client = TestClient::new(Api::default());
    let res = client.get("/panic");
    assert_eq!(res.status, 500);
    assert_eq!(res.text(), problem_json(500, "Internal Server Error"));
    assert_eq!(*client.handler().seen.lock().unwrap(), [(500, Some("/panic".to_owned()))]);
}

/// A hook that panics, sets a bad header, or changes the status.
struct Faulty;

impl Handler for Faulty {
    fn handle(&self, _: &Request<'_>, _: &mut Response<'_>) {}

    fn error_response(&self, status: StatusCode, _: Option<&Request<'_>>, res: &mut Response<'_>) {
        res.body(b"partly shaped");
        match status {
            StatusCode::BAD_REQUEST => panic!("a hook failing on purpose"),
            StatusCode::HTTP_VERSION_NOT_SUPPORTED => {
                res.header("X-Bad", "a\r\nb");
            }
            _ => {
                res.status(StatusCode::OK);
            }
        }
    }
}

#[test]
fn a_failing_hook_leaves_the_plain_error_and_the_status_stays() {
    for (raw, status, body) in [
        (&b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"[..], 400, ""),
        (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, ""),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n", 413, "partly shaped"),
    ] {
        let mut client = TestClient::new(Faulty);
        client.send(raw);
        let res = client.response().unwrap();
        assert_eq!((res.status, res.text().as_str()), (status, body));
        assert!(!client.is_open());
    }
}
