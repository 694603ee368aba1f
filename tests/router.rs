//! The router through a server: parameters (raw and decoded), wildcards,
//! 404 and its fallback, 405 with `Allow`, HEAD served by GET routes,
//! DirServer mounted under a prefix, and a WebSocket upgrade on a route.

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use peregrine::testing::TestClient;
use peregrine::ws::{self, Message, WebSocket};
use peregrine::{Config, DirServer, Params, Request, Response, Router, StatusCode, WsHooks};

mod support;
use support::{read_response, RawResponse, TestServer};

fn echo_params(_: &Request<'_>, res: &mut Response<'_>, p: &Params<'_>) {
    let mut first = true;
    for (name, value) in p.iter() {
        let sep = if first { "" } else { " " };
        first = false;
        let _ = write!(res, "{sep}{name}={value}");
    }
}

fn decoded_name(_: &Request<'_>, res: &mut Response<'_>, p: &Params<'_>) {
    let mut buf = [0u8; 64];
    match p.decoded("name").and_then(|d| d.decode_str_into(&mut buf)) {
        Some(name) => {
            let _ = write!(res, "hello {name}");
        }
        None => {
            res.status(StatusCode::BAD_REQUEST);
        }
    }
}

fn app() -> Router {
    Router::new()
        .get("/", |_: &Request<'_>, res: &mut Response<'_>, _: &Params<'_>| {
            res.body_static(b"home");
        })
        .get("/users/me", |_: &Request<'_>, res: &mut Response<'_>, _: &Params<'_>| {
            res.body_static(b"me");
        })
        .get("/users/:id", echo_params)
        .put("/users/:id", |_: &Request<'_>, res: &mut Response<'_>, p: &Params<'_>| {
            let _ = write!(res, "put {}", p.get("id").unwrap());
        })
        .get("/users/:id/posts/:post", echo_params)
        .get("/hello/:name", decoded_name)
        .get("/files/*path", echo_params)
        // Same shapes, other names.
        .delete("/users/:name", echo_params)
        .put("/files/*rest", echo_params)
        .post("/form", |req: &Request<'_>, res: &mut Response<'_>, _: &Params<'_>| {
            res.body(req.body());
        })
}

fn ask(server: &TestServer, raw: &str) -> RawResponse {
    let mut s = server.connect();
    s.write_all(raw.as_bytes()).unwrap();
    let head_only = raw.starts_with("HEAD ");
    read_response(&mut s, &mut Vec::new(), head_only)
}

fn get(server: &TestServer, path: &str) -> RawResponse {
    ask(server, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

fn body(r: &RawResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn routes_match_with_their_parameters() {
    let server = TestServer::with(app());
    assert_eq!(body(&get(&server, "/")), "home");
    assert_eq!(body(&get(&server, "/users/me")), "me", "a static segment wins over a parameter");
    assert_eq!(body(&get(&server, "/users/42")), "id=42");
    assert_eq!(body(&get(&server, "/users/42?x=1")), "id=42", "the query is not part of the path");
    assert_eq!(body(&get(&server, "/users/42/posts/7")), "id=42 post=7");
    assert_eq!(body(&get(&server, "/users/a%20b")), "id=a%20b", "values come as sent");
    assert_eq!(body(&get(&server, "/hello/J%C3%BCrgen")), "hello Jürgen", "and decode on request");
    assert_eq!(body(&get(&server, "/files/a/b/c.txt")), "path=a/b/c.txt");
    assert_eq!(body(&get(&server, "/files/")), "path=");
    let r = ask(&server, "PUT /users/9 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(body(&r), "put 9");
    // Each route names its own parameters.
    let r = ask(&server, "DELETE /users/9 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(body(&r), "name=9");
    let r = ask(&server, "PUT /files/a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(body(&r), "rest=a/b");
    let r = ask(&server, "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(body(&r), "abc");
}

#[test]
fn unmatched_paths_are_404_and_unmatched_methods_405_with_allow() {
    let server = TestServer::with(app());
    for path in ["/nope", "/users/", "/users/42/", "/users/42/posts", "/USERS/42"] {
        assert_eq!(get(&server, path).status, 404, "{path}");
    }
    // `/files/*path` matches `/files/`, not `/files`, which is sent there.
    let r = get(&server, "/files");
    assert_eq!((r.status, r.header("location")), (301, Some("/files/")));
    let r = ask(&server, "PATCH /users/9 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, PUT, DELETE, HEAD"));
    let r = ask(&server, "GET /form HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let with_fallback = TestServer::with(app().fallback(|req: &Request<'_>, res: &mut Response<'_>| {
        let _ = write!(res.status(StatusCode::NOT_FOUND), "no route for {}", req.path());
    }));
    assert_eq!(body(&get(&with_fallback, "/nope")), "no route for /nope");
}

#[test]
fn a_method_the_first_matching_pattern_lacks_goes_to_the_next() {
    // `/users/me` is `GET /users/me`'s, and also matches `/users/:id` and
    // `DELETE /users/:name`: a DELETE there is routed, not refused.
    let server = TestServer::with(app());
    let r = ask(&server, "DELETE /users/me HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, body(&r)), (200, "name=me".to_owned()));
    let r = ask(&server, "PUT /users/me HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((r.status, body(&r)), (200, "put me".to_owned()));
    assert_eq!(body(&get(&server, "/users/me")), "me");
    // Refused by all of them: Allow names every method the path has
    // (RFC 9110 §10.2.1), each once.
    let r = ask(&server, "PATCH /users/me HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD, PUT, DELETE")));
    // A wildcard behind a parameter: `PUT /files/*rest` under `GET /files/*path`.
    let r = ask(&server, "PUT /files/a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((r.status, body(&r)), (200, "rest=a/b".to_owned()));
}

#[test]
fn head_is_served_by_the_get_route() {
    let server = TestServer::with(app());
    let r = ask(&server, "HEAD /users/42 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5"), "the GET answer's length");
    assert!(r.body.is_empty());
}

#[test]
#[should_panic(expected = r#"route DELETE "/users/:x" conflicts with DELETE "/users/:name""#)]
fn two_routes_for_one_method_and_shape_are_refused() {
    let _ = app().delete("/users/:x", echo_params);
}

#[test]
#[should_panic(expected = "must be the last segment")]
fn a_bad_pattern_is_refused_when_added() {
    let _ = Router::new().get("/a/*rest/b", echo_params);
}

#[test]
fn a_directory_is_served_under_a_prefix() {
    let root = std::env::temp_dir().join(format!("peregrine-router-dir-{}", std::process::id()));
    std::fs::create_dir_all(root.join("css")).unwrap();
    std::fs::write(root.join("css/site.css"), "body{}").unwrap();
    std::fs::write(root.join("index.html"), "<p>index</p>").unwrap();
    let assets = DirServer::new(&root).unwrap();
    let router =
        app().get("/static/*file", move |req: &Request<'_>, res: &mut Response<'_>, p: &Params<'_>| {
            let rest = p.get("file").unwrap_or("");
            let mut buf = [0u8; 1024];
            buf[0] = b'/';
            buf[1..=rest.len()].copy_from_slice(rest.as_bytes());
            assets.serve_path(req, res, std::str::from_utf8(&buf[..=rest.len()]).unwrap());
        });
    let server = TestServer::with(router);
    let r = get(&server, "/static/css/site.css");
    assert_eq!((r.status, body(&r)), (200, "body{}".to_owned()));
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(body(&get(&server, "/static/")), "<p>index</p>");
    assert_eq!(get(&server, "/static/css").header("location"), Some("/static/css/"));
    // The mount itself, asked for without its slash, is sent to it.
    let r = get(&server, "/static?v=2");
    assert_eq!((r.status, r.header("location")), (301, Some("/static/?v=2")));
    let r = ask(&server, "POST /static HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 404, "only GET and HEAD are redirected");
    assert_eq!(get(&server, "/static/%2e%2e/secret").status, 404);
    assert_eq!(body(&get(&server, "/users/1")), "id=1", "the other routes still answer");
    std::fs::remove_dir_all(root).unwrap();
}

/// Echoes every text message, for the upgrade test.
#[derive(Default)]
struct Echo(Mutex<Vec<String>>);

impl WsHooks for Echo {
    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        if let Message::Text(text) = msg {
            self.0.lock().unwrap().push(text.to_owned());
            let _ = ws.send_text(text);
        }
    }
}

#[test]
fn a_route_upgrades_to_a_websocket() {
    let hooks = Arc::new(Echo::default());
    let router = app()
        .get("/ws", |req: &Request<'_>, res: &mut Response<'_>, _: &Params<'_>| {
            let _ = ws::upgrade(req, res);
        })
        // Shared: the test reads what the hooks saw.
        .with_websockets(Arc::clone(&hooks));
    assert!(router.websockets());
    let server = TestServer::start(Config::new().workers(1), router);
    let stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(support::WAIT)).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{}/ws", server.addr), stream).unwrap();
    ws.send(tungstenite::Message::text("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("hi"));
    assert_eq!(*hooks.0.lock().unwrap(), ["hi"]);
    assert_eq!(body(&get(&server, "/users/5")), "id=5");
    assert!(!app().websockets(), "a router without hooks starts no WebSocket thread");
}

/// The errors the server answers itself reach the router's hook, with the
/// request when there is one to trust.
#[test]
fn the_servers_own_errors_go_through_the_routers_hook() {
    let router = || {
        app()
            .get("/panic", |_: &Request<'_>, _: &mut Response<'_>, _: &Params<'_>| panic!("a route's bug"))
            .with_error_response(|status, req, res| {
                let _ = write!(res, "{} for {}", status.as_u16(), req.map_or("no request", |r| r.path()));
            })
    };
    let res = TestClient::new(router()).get("/panic");
    assert_eq!((res.status, res.text()), (500, "500 for /panic".to_string()));
    // A declared body over the limit is refused before the request is taken.
    let mut client = TestClient::with_config(Config::new().max_body_size(4), router());
    client.send(b"POST /users/5 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    let res = client.response().expect("a 413");
    assert_eq!((res.status, res.text()), (413, "413 for no request".to_string()));
    let mut client = TestClient::new(router());
    client.send(b"GET / HTTP/1.1\r\nHost x\r\n\r\n");
    let res = client.response().expect("a 400");
    assert_eq!((res.status, res.text()), (400, "400 for no request".to_string()));
    // Routes still answer as they did.
    assert_eq!(TestClient::new(router()).get("/users/5").text(), "id=5");
}

/// A route that streams its uploads: counts the bytes of `/files/:name`.
struct CountUpload;

impl peregrine::Route for CountUpload {
    fn call(&self, _: &Request<'_>, res: &mut Response<'_>, p: &Params<'_>) {
        // Only bodiless requests come here: the rest went to the sink.
        let _ = write!(res, "{} empty", p.get("name").unwrap());
    }

    fn intake(&self, _: &Request<'_>, p: &Params<'_>) -> peregrine::Intake {
        struct Count(String, usize);
        impl peregrine::BodySink for Count {
            fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
                self.1 += piece.len();
                Ok(())
            }
            fn end(self: Box<Self>, _: &Request<'_>, res: &mut Response<'_>) {
                let _ = write!(res, "{} {}", self.0, self.1);
            }
        }
        peregrine::Intake::stream(Count(p.get("name").unwrap().to_owned(), 0))
    }
}

#[test]
fn a_route_streams_its_uploads() {
    let router = Router::new().put("/files/:name", CountUpload).post(
        "/echo",
        |req: &Request<'_>, res: &mut Response<'_>, _: &Params<'_>| {
            res.body(req.body());
        },
    );
    let server = TestServer::start(Config::new().workers(1).max_body_size(1000), router);
    let upload = "x".repeat(50_000);
    let res = ask(
        &server,
        &format!("PUT /files/a.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n{upload}"),
    );
    assert_eq!((res.status, body(&res)), (200, "a.bin 50000".to_string()), "past max_body_size: streamed");
    let res = ask(&server, "PUT /files/b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(body(&res), "b empty");
    let res = ask(&server, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(body(&res), "abc", "other routes buffer");
    let res = ask(
        &server,
        &format!("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{}", &upload[..5000]),
    );
    assert_eq!(res.status, 413, "an unmatched path buffers, within max_body_size");
}

#[test]
fn a_wildcard_decodes_as_a_path_keeping_encoded_slashes() {
    let decoded = |_: &Request<'_>, res: &mut Response<'_>, p: &Params<'_>| {
        let _ = write!(res, "{}", p.decoded(p.iter().last().unwrap().0).unwrap());
    };
    let server = TestServer::with(Router::new().get("/raw/*rest", decoded).get("/one/:seg", decoded));
    // Across segments, %2F stays a byte of a name, never a separator that
    // `..` could climb (as Request::path_decoded does).
    assert_eq!(body(&get(&server, "/raw/a%2F..%2F..%2Fetc%2Fpasswd%20x")), "a%2F..%2F..%2Fetc%2Fpasswd x");
    assert_eq!(body(&get(&server, "/raw/b%5Cc/%2e%00")), "b%5Cc/.%00");
    // One segment decodes whole.
    assert_eq!(body(&get(&server, "/one/a%2Fb%20c")), "a/b c");
}
