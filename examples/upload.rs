//! Uploads of any size, in the memory of one read buffer each.
//!
//! - `POST /upload` (or `PUT`, as `curl -T` sends): the body (Content-Length or chunked) is streamed to a
//!   temporary file and hashed as it arrives; the answer is `N sha256-hex`
//!   (bytes received, the body's SHA-256), and the file is removed.
//! - `POST /form`: a `multipart/form-data` form, parsed as it arrives; one
//!   line per part: `name filename-or-dash size sha256-hex`.
//! - `GET /`: a page with both forms, to try from a browser.
//!
//! More than `--max-upload BYTES` (default 4 GiB) is refused `413`: at
//! once when declared (a client that sent `Expect: 100-continue` never
//! sends it), else as soon as it is passed, the partial file removed.
//!
//! ```sh
//! cargo run --release --example upload -- --port 8080
//! curl -T some-file localhost:8080/upload          # then compare with sha256sum some-file
//! curl -F name=value -F file=@some-file localhost:8080/form
//! ```

use std::fmt::Write as _;
use std::io::Write as _;

use peregrine::multipart::{Event, Limits, Multipart};
use peregrine::{BodyFile, BodySink, Handler, Intake, Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};

#[path = "support/args.rs"]
mod args;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>upload</title>
<h1>Upload</h1>
<form method="post" action="/upload" enctype="application/octet-stream">
  <p>Use <code>curl -T FILE http://HOST/upload</code>: a browser form cannot send a raw body.</p>
</form>
<form method="post" action="/form" enctype="multipart/form-data">
  <p><input name="text" value="hello"> <input type="file" name="file" multiple>
  <button>Send the form</button>
</form>
"#;

/// The example's handler: uploads up to `max_upload` bytes.
pub struct Uploads {
    pub max_upload: u64,
}

/// What a request asks of this server, decided once for `intake` and `handle`.
enum Route {
    Page,
    Upload,
    Form,
    /// A path that is here, with a method it does not take: what it takes.
    NotAllowed(&'static str),
    NotFound,
}

fn route(req: &Request<'_>) -> Route {
    match (req.method(), req.path()) {
        (Method::Get | Method::Head, "/") => Route::Page,
        (Method::Post | Method::Put, "/upload") => Route::Upload,
        (Method::Post, "/form") => Route::Form,
        (_, "/") => Route::NotAllowed("GET, HEAD"),
        (_, "/upload") => Route::NotAllowed("POST, PUT"),
        (_, "/form") => Route::NotAllowed("POST"),
        _ => Route::NotFound,
    }
}

impl Handler for Uploads {
    fn intake(&self, req: &Request<'_>) -> Intake {
        let route = route(req);
        if matches!(route, Route::Upload | Route::Form)
            && req.content_length().is_some_and(|n| n > self.max_upload)
        {
            return Intake::Refuse(StatusCode::PAYLOAD_TOO_LARGE);
        }
        match route {
            Route::Upload => match BodyFile::temp(self.max_upload) {
                Ok(file) => Intake::stream(Upload { file, hash: Sha256::new() }),
                Err(e) => {
                    eprintln!("upload: cannot make a temporary file: {e}");
                    Intake::Refuse(StatusCode::INTERNAL_SERVER_ERROR)
                }
            },
            Route::Form => {
                let content_type = req.header("content-type").unwrap_or_default();
                // The whole body within --max-upload; the part names kept
                // for the answer within 256 × 8 KiB.
                let limits = Limits { total: self.max_upload, parts: 256, ..Limits::default() };
                match Multipart::new(content_type, limits) {
                    Ok(form) => Intake::stream(Form { form, parts: Vec::new() }),
                    Err(status) => Intake::Refuse(status),
                }
            }
            // Answered by `handle`, which needs no body (read within the
            // server's body limit).
            Route::Page | Route::NotAllowed(_) | Route::NotFound => Intake::Buffer,
        }
    }

    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        match route(req) {
            Route::Page => {
                res.header("Content-Type", "text/html; charset=utf-8").body_static(PAGE.as_bytes());
            }
            // `intake` is asked only about requests with a body.
            Route::Upload => {
                res.header("Content-Type", "text/plain; charset=utf-8");
                let _ = writeln!(res, "0 {}", hex(&Sha256::digest(b"")));
            }
            Route::Form => {
                res.status(StatusCode::BAD_REQUEST).body_static(b"an empty body is not a form\n");
            }
            Route::NotAllowed(allow) => {
                res.status(StatusCode::METHOD_NOT_ALLOWED).header("Allow", allow);
            }
            Route::NotFound => {
                res.status(StatusCode::NOT_FOUND);
            }
        }
    }

    fn error_response(&self, status: StatusCode, _req: Option<&Request<'_>>, res: &mut Response<'_>) {
        res.header("Content-Type", "text/plain; charset=utf-8");
        let _ = writeln!(res, "{} {}", status.as_u16(), status.reason());
    }
}

/// `POST /upload`: the body into a temporary file, hashed on the way.
struct Upload {
    file: BodyFile,
    hash: Sha256,
}

impl BodySink for Upload {
    fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
        self.file.write(piece)?;
        self.hash.update(piece);
        Ok(())
    }

    fn end(self: Box<Self>, _req: &Request<'_>, res: &mut Response<'_>) {
        let Upload { file, hash } = *self;
        res.header("Content-Type", "text/plain; charset=utf-8");
        let _ = writeln!(res, "{} {}", file.len(), hex(&hash.finalize()));
        // `file` drops here: the temporary file is removed.
    }
}

/// One part of a form as it arrives.
struct PartSum {
    name: String,
    filename: Option<String>,
    size: u64,
    hash: Sha256,
}

/// `POST /form`: each part's size and digest.
struct Form {
    form: Multipart,
    parts: Vec<PartSum>,
}

impl BodySink for Form {
    fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
        let parts = &mut self.parts;
        self.form.feed(piece, &mut |event| {
            match event {
                Event::Part(part) => parts.push(PartSum {
                    name: part.name().to_owned(),
                    // `filename*` (RFC 8187) where a client sent only that.
                    filename: part
                        .filename()
                        .map(str::to_owned)
                        .or_else(|| part.filename_ext().map(|f| f.to_string())),
                    size: 0,
                    hash: Sha256::new(),
                }),
                Event::Data(data) => {
                    let part = parts.last_mut().expect("data belongs to a part");
                    part.size += data.len() as u64;
                    part.hash.update(data);
                }
                Event::PartEnd => {}
            }
            Ok(())
        })
    }

    fn end(self: Box<Self>, _req: &Request<'_>, res: &mut Response<'_>) {
        res.header("Content-Type", "text/plain; charset=utf-8");
        if let Err(status) = self.form.finish() {
            res.status(status);
            let _ = writeln!(res, "the form ended before its final boundary");
            return;
        }
        let mut out = String::new();
        for part in self.parts {
            let filename = part.filename.as_deref().filter(|f| !f.is_empty()).unwrap_or("-");
            let _ = writeln!(out, "{} {filename} {} {}", part.name, part.size, hex(&part.hash.finalize()));
        }
        res.body(out.as_bytes());
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn main() {
    let args = args::parse(8080, &["--max-upload"]);
    let max_upload = args.extra("--max-upload").map_or(4 << 30, |v| args::number::<u64>("--max-upload", v));
    args::serve(args.config(), Uploads { max_upload });
}
