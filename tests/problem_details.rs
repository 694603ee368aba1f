//! `Response::problem`: an error answered as RFC 9457 problem details,
//! through the real connection code (`peregrine::testing`).

use peregrine::testing::TestClient;
use peregrine::{Problem, Request, Response, StatusCode};

fn app(req: &Request<'_>, res: &mut Response<'_>) {
    match req.path() {
        "/credit" => {
            // A body set first is replaced by the problem's.
            res.body(b"ignored");
            res.problem(
                &Problem::new(StatusCode::FORBIDDEN)
                    .type_uri("https://example.com/probs/out-of-credit")
                    .title("You do not have enough credit.")
                    .detail("Your current balance is 30, but that costs 50.")
                    .instance("/account/12345/msgs/abc"),
            );
        }
        _ => {
            res.problem(&Problem::new(StatusCode::NOT_FOUND).detail(req.path()));
        }
    }
}

#[test]
fn problems_are_answered_as_rfc_9457_objects() {
    let mut client = TestClient::new(app);
    let res = client.get("/credit");
    assert_eq!(res.status, 403);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert_eq!(
        res.text(),
        r#"{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","status":403,"detail":"Your current balance is 30, but that costs 50.","instance":"/account/12345/msgs/abc"}"#
    );
    let res = client.get("/a%22b");
    assert_eq!(res.status, 404);
    assert_eq!(res.text(), r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"/a%22b"}"#);
    assert!(client.is_open(), "a problem is an ordinary response");
}
