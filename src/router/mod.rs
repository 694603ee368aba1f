//! A router: method + path patterns with named parameters and a trailing
//! wildcard, built once before the server starts and matched without
//! allocating. It is a [`Handler`] of its own, beside the core: a server
//! that does not use it never runs any of it.

mod pattern;

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use self::pattern::{Miss, Node, Segment, MAX_PARAMS};
use crate::fs::dir_server::redirect_to_slash;
use crate::handler::Handler;
use crate::http::intake::Intake;
use crate::http::query::Decoded;
use crate::http::request::{Method, Request};
use crate::http::response::Response;
use crate::http::status::StatusCode;
use crate::ws::{CloseCode, Message, WebSocket};

/// What a route runs: the handler of a [`Router`], given the parameters.
pub trait Route: Send + Sync + 'static {
    /// Answers `req` (as [`Handler::handle`] does), `params` holding what
    /// the pattern named.
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, params: &Params<'_>);

    /// How the body of a request this route matched is taken in (as
    /// [`Handler::intake`]); by default whole, for [`call`](Route::call).
    /// A route that streams uploads implements `Route` on a type of its
    /// own to say so (a closure cannot).
    fn intake(&self, req: &Request<'_>, params: &Params<'_>) -> Intake {
        let _ = (req, params);
        Intake::Buffer
    }
}

impl<F> Route for F
where
    F: Fn(&Request<'_>, &mut Response<'_>, &Params<'_>) + Send + Sync + 'static,
{
    fn call(&self, req: &Request<'_>, res: &mut Response<'_>, params: &Params<'_>) {
        self(req, res, params)
    }
}

/// The values a pattern's parameters took, by name; at most 8, in a fixed
/// array (no allocation).
#[derive(Clone, Copy)]
pub struct Params<'a> {
    names: &'a [Box<str>],
    values: [&'a str; MAX_PARAMS],
    /// The last parameter is a wildcard's (`*rest`).
    wildcard: bool,
}

impl<'a> Params<'a> {
    /// The value of parameter `name` (`:name` or `*name`), still
    /// percent-encoded as sent.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of `name`, decoded lazily. A parameter's is one path
    /// segment, so `%2F` becomes `/` (see [`Decoded::segment`]); a
    /// wildcard's spans segments, and keeps `%2F`, `%5C`, `%00` and `%25`
    /// encoded, as [`Decoded::path`] does, so that `a%2F..%2Fetc` cannot
    /// turn into `a/../etc` on its way to a file path.
    pub fn decoded(&self, name: &str) -> Option<Decoded<'a>> {
        let at = self.names.iter().position(|n| &**n == name)?;
        let value = self.values[at];
        Some(if self.wildcard && at + 1 == self.names.len() {
            Decoded::path(value)
        } else {
            Decoded::segment(value)
        })
    }

    /// Every `(name, value)`, in the pattern's order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.names.iter().map(|n| &**n).zip(self.values.iter().copied())
    }

    /// How many parameters the pattern has.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the pattern has none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// What answers a path no route matches.
type Fallback = Box<dyn Fn(&Request<'_>, &mut Response<'_>) + Send + Sync>;
type ErrorResponse = Box<dyn Fn(StatusCode, Option<&Request<'_>>, &mut Response<'_>) + Send + Sync>;

/// One path shape, and what each method does there.
struct Endpoint {
    /// Routes by method, in the order they were added.
    methods: Vec<MethodRoute>,
    /// The `Allow` value of a 405 here.
    allow: String,
}

/// What one method does at an endpoint, and the names its pattern gave
/// the parameters: two methods may name one shape's segments differently
/// (`GET /u/:id`, `DELETE /u/:name`).
struct MethodRoute {
    method: Box<str>,
    /// As it was added (for the message when another conflicts with it).
    pattern: Box<str>,
    names: Box<[Box<str>]>,
    /// The pattern ends in a wildcard.
    wildcard: bool,
    route: Box<dyn Route>,
}

impl Endpoint {
    fn route(&self, method: &str) -> Option<&MethodRoute> {
        let find = |m: &str| self.methods.iter().find(|r| &*r.method == m);
        find(method).or_else(|| if method == "HEAD" { find("GET") } else { None })
    }
}

/// The WebSocket hooks of a router that upgrades (see
/// [`Router::with_websockets`]).
pub trait WsHooks: Send + Sync + 'static {
    /// Whether the router upgrades (what its [`Handler::WEBSOCKETS`] says).
    const UPGRADES: bool = true;

    /// As [`Handler::ws_open`].
    fn ws_open(&self, ws: &WebSocket) {
        let _ = ws;
    }
    /// As [`Handler::ws_message`].
    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        let _ = (ws, msg);
    }
    /// As [`Handler::ws_close`].
    fn ws_close(&self, ws: &WebSocket, code: CloseCode) {
        let _ = (ws, code);
    }
}

/// No WebSocket hooks: the router does not upgrade.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoWebSockets;

impl WsHooks for NoWebSockets {
    const UPGRADES: bool = false;
}

/// Hooks shared with the rest of the application (a chat's member list,
/// say), which [`Router::with_websockets`] then takes as they are.
impl<T: WsHooks> WsHooks for Arc<T> {
    const UPGRADES: bool = T::UPGRADES;

    fn ws_open(&self, ws: &WebSocket) {
        T::ws_open(self, ws);
    }
    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        T::ws_message(self, ws, msg);
    }
    fn ws_close(&self, ws: &WebSocket, code: CloseCode) {
        T::ws_close(self, ws, code);
    }
}

/// A router: method + path patterns with named parameters and a trailing
/// wildcard, built once before the server starts and matched without
/// allocating. It is a [`Handler`] of its own, beside the core: a server
/// that does not use it never runs any of it.
///
/// ```
/// use peregrine::{Params, Request, Response, Router, StatusCode};
///
/// fn user(_: &Request<'_>, res: &mut Response<'_>, p: &Params<'_>) {
///     let mut buf = [0u8; 64];
///     match p.decoded("id").and_then(|id| id.decode_str_into(&mut buf)) {
///         Some(id) => {
///             let _ = std::io::Write::write_fmt(res, format_args!("user {id}"));
///         }
///         None => {
///             res.status(StatusCode::BAD_REQUEST);
///         }
///     }
/// }
///
/// let router = Router::new()
///     .get("/", |_: &Request<'_>, res: &mut Response<'_>, _: &Params<'_>| {
///         res.body_static(b"home");
///     })
///     .get("/users/:id", user)
///     .post("/users", |_: &Request<'_>, res: &mut Response<'_>, _: &Params<'_>| {
///         res.status(StatusCode::CREATED);
///     });
/// # fn is_handler<H: peregrine::Handler>(_: &H) {}
/// # is_handler(&router);
/// ```
///
/// - **Patterns.** `/users/:id` names one segment (never empty);
///   `/static/*rest` names the rest of the path after `/static/`
///   (possibly empty), and comes last; `GET /static` itself, when no
///   route takes it, is redirected (`301`) to `/static/`, as a
///   `DirServer` does for a directory.
///   Each route names its own parameters: `GET /u/:id` and
///   `DELETE /u/:name` share a shape, not names. A static segment wins
///   over a parameter, which wins over a wildcard, whatever the order
///   routes were added in; a path that fails down the static branch, or
///   whose pattern there has no route for the method, is tried down the
///   others (`DELETE /u/me` goes to `DELETE /u/:name` beside
///   `GET /u/me`). Matching is on
///   the path as sent (still percent-encoded, without the query);
///   [`Params::decoded`] decodes a value on request. `/a` and `/a/` are
///   different paths.
/// - **Answers of its own.** A path no route matches: `404` (or the
///   [`fallback`](Router::fallback)). A path that matches, with a method no
///   route takes: `405` with `Allow`, naming the methods of the patterns
///   it matches (the first eight, in the order tried). `HEAD` is served
///   by the `GET` route when there is no `HEAD` route (the server sends
///   the head only).
/// - **Mistakes** (a pattern that does not parse, one no request path
///   could match, with a space, a control byte, `?` or `#`, two routes
///   for one method and path shape) panic when the route is added,
///   before the server starts, saying which.
/// - **Composes**: a route can call [`DirServer::serve_path`](crate::DirServer::serve_path)
///   with its wildcard, or [`ws::upgrade`](crate::ws::upgrade) (set
///   [`websockets`](Router::websockets), and the hooks, through
///   [`Router::with_websockets`]).
pub struct Router<W = NoWebSockets> {
    root: Node,
    endpoints: Vec<Endpoint>,
    fallback: Option<Fallback>,
    error_response: Option<ErrorResponse>,
    ws: Arc<W>,
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl Router {
    /// A router with no routes (every request: 404).
    pub fn new() -> Self {
        Router {
            root: Node::default(),
            endpoints: Vec::new(),
            fallback: None,
            error_response: None,
            ws: Arc::new(NoWebSockets),
        }
    }

    /// This router, upgrading with `hooks`: its type then sets
    /// [`Handler::WEBSOCKETS`], so the server starts its WebSocket
    /// threads, and routes may call [`ws::upgrade`](crate::ws::upgrade).
    pub fn with_websockets<W: WsHooks>(self, hooks: W) -> Router<W> {
        Router {
            root: self.root,
            endpoints: self.endpoints,
            fallback: self.fallback,
            error_response: self.error_response,
            ws: Arc::new(hooks),
        }
    }
}

impl<W: WsHooks> Router<W> {
    /// Adds `route` for `method` requests to paths matching `pattern`.
    ///
    /// # Panics
    ///
    /// If `pattern` does not parse, has a character no request path holds
    /// (a space, a control byte, `?` or `#`), or a route for `method` and
    /// the same path shape was added before.
    pub fn route(mut self, method: Method<'_>, pattern: &str, route: impl Route) -> Self {
        let segments = pattern::parse(pattern).unwrap_or_else(|e| panic!("{e}"));
        let next = self.endpoints.len();
        let index = match self.root.insert(&segments, next) {
            Ok(()) => {
                self.endpoints.push(Endpoint { methods: Vec::new(), allow: String::new() });
                next
            }
            Err(existing) => existing,
        };
        let endpoint = &mut self.endpoints[index];
        let method = method.as_str();
        if let Some(r) = endpoint.methods.iter().find(|r| &*r.method == method) {
            panic!("route {method} {pattern:?} conflicts with {method} {:?}", r.pattern);
        }
        let names = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) | Segment::Rest(n) => Some(n.clone()),
                Segment::Static(_) => None,
            })
            .collect();
        endpoint.methods.push(MethodRoute {
            method: method.into(),
            pattern: pattern.into(),
            names,
            wildcard: matches!(segments.last(), Some(Segment::Rest(_))),
            route: Box::new(route),
        });
        endpoint.allow = allow_list(&endpoint.methods);
        self
    }

    /// `GET` (and `HEAD`, unless a `HEAD` route is added).
    pub fn get(self, pattern: &str, route: impl Route) -> Self {
        self.route(Method::Get, pattern, route)
    }

    /// `POST`.
    pub fn post(self, pattern: &str, route: impl Route) -> Self {
        self.route(Method::Post, pattern, route)
    }

    /// `PUT`.
    pub fn put(self, pattern: &str, route: impl Route) -> Self {
        self.route(Method::Put, pattern, route)
    }

    /// `DELETE`.
    pub fn delete(self, pattern: &str, route: impl Route) -> Self {
        self.route(Method::Delete, pattern, route)
    }

    /// `PATCH`.
    pub fn patch(self, pattern: &str, route: impl Route) -> Self {
        self.route(Method::Patch, pattern, route)
    }

    /// What answers a path no route matches (default: an empty `404`).
    pub fn fallback(mut self, f: impl Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static) -> Self {
        self.fallback = Some(Box::new(f));
        self
    }

    /// What adds to the errors the server answers on its own (a malformed
    /// head, 413, a panic's 500, …): this router's
    /// [`Handler::error_response`], e.g. to answer them as problem details.
    ///
    /// (Named apart from the trait method, which a wrapper forwarding a
    /// [`Handler`] to a router still calls as `router.error_response(…)`.)
    ///
    /// ```
    /// use peregrine::{Problem, Router};
    ///
    /// let router = Router::new().with_error_response(|status, _req, res| {
    ///     res.problem(&Problem::new(status));
    /// });
    /// # fn is_handler<H: peregrine::Handler>(_: &H) {}
    /// # is_handler(&router);
    /// ```
    pub fn with_error_response(
        mut self,
        f: impl Fn(StatusCode, Option<&Request<'_>>, &mut Response<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.error_response = Some(Box::new(f));
        self
    }

    /// Whether this router upgrades to WebSockets.
    pub fn websockets(&self) -> bool {
        Self::WEBSOCKETS
    }

    /// Finds the route for `method` and `path`: `Ok` with the route and
    /// its parameters, `Err(Some(allow))` when the path matches but the
    /// method does not (the `Allow` value of the first pattern it
    /// matches), `Err(None)` when nothing does. A path that more than one
    /// pattern matches (`/users/me` for `GET /users/me` and
    /// `DELETE /users/:name`) goes to the first, in the order static,
    /// parameter, wildcard, whose pattern has a route for `method`.
    pub fn find<'r, 'p: 'r>(
        &'r self,
        method: &str,
        path: &'p str,
    ) -> Result<(&'r dyn Route, Params<'r>), Option<&'r str>> {
        self.search(method, path).map_err(|miss| miss.rejected().first().map(|&e| &*self.endpoints[e].allow))
    }

    /// [`find`](Router::find), with all the search met when it fails.
    fn search<'r, 'p: 'r>(
        &'r self,
        method: &str,
        path: &'p str,
    ) -> Result<(&'r dyn Route, Params<'r>), Miss> {
        // The first pattern a path matches almost always has a route for
        // the method: a search that takes any pattern finds it at the
        // least cost, and only when it has none does the path go through
        // the search again, passing over patterns without one. Either
        // writes the values where the answer's `Params` holds them.
        let mut values = [""; MAX_PARAMS];
        let first = self.root.search(path, &mut values, &|_| true)?;
        let (r, len) = match self.endpoints[first.route].route(method) {
            Some(r) => (r, first.len),
            None => self.search_for(method, path, &mut values)?,
        };
        debug_assert_eq!(len, r.names.len(), "a value for each of the pattern's parameters");
        Ok((&*r.route, Params { names: &r.names, values, wildcard: r.wildcard }))
    }

    /// The route of the first pattern `path` matches that has one for
    /// `method`, and how many values it wrote to `values`.
    #[cold]
    fn search_for<'r, 'p: 'r>(
        &'r self,
        method: &str,
        path: &'p str,
        values: &mut [&'r str; MAX_PARAMS],
    ) -> Result<(&'r MethodRoute, usize), Miss> {
        // The route a search accepts, kept rather than looked up again.
        let taken = Cell::new(None);
        let found = self.root.search(path, values, &|endpoint| {
            taken.set(self.endpoints[endpoint].route(method));
            taken.get().is_some()
        })?;
        Ok((taken.get().expect("a route search accepted"), found.len))
    }
}

impl<W: WsHooks> Router<W> {
    /// Whether a `GET` or `HEAD` no route matches would be matched by a
    /// wildcard with a slash after its path (`/static` for
    /// `/static/*rest`): the address a user types for a mounted directory.
    fn slash_form_is_routed(&self, req: &Request<'_>, miss: &Miss) -> bool {
        matches!(req.method(), Method::Get | Method::Head) && miss.short_of_wildcard
    }

    /// Answers `405` with the methods of the patterns `path` matched.
    fn not_allowed(&self, res: &mut Response<'_>, endpoints: &[usize]) {
        res.status(StatusCode::METHOD_NOT_ALLOWED);
        match endpoints {
            [one] => res.header("Allow", &self.endpoints[*one].allow),
            several => res.header_fmt("Allow", format_args!("{}", AllowOf(&self.endpoints, several))),
        };
    }
}

/// The `Allow` value of several endpoints: their methods, each once.
struct AllowOf<'a>(&'a [Endpoint], &'a [usize]);

impl fmt::Display for AllowOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let methods = || self.1.iter().flat_map(|&e| self.0[e].allow.split(", "));
        for (i, method) in methods().enumerate() {
            if methods().take(i).all(|earlier| earlier != method) {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(method)?;
            }
        }
        Ok(())
    }
}

/// The `Allow` value for these methods: `HEAD` goes with `GET`.
fn allow_list(methods: &[MethodRoute]) -> String {
    let mut names: Vec<&str> = methods.iter().map(|r| &*r.method).collect();
    if names.contains(&"GET") && !names.contains(&"HEAD") {
        names.push("HEAD");
    }
    names.join(", ")
}

impl<W: WsHooks> Handler for Router<W> {
    const WEBSOCKETS: bool = W::UPGRADES;

    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        match self.search(req.method().as_str(), req.path()) {
            Ok((route, params)) => route.call(req, res, &params),
            Err(miss) if !miss.rejected().is_empty() => self.not_allowed(res, miss.rejected()),
            Err(miss) if self.slash_form_is_routed(req, &miss) => redirect_to_slash(req, res),
            Err(_) => match &self.fallback {
                Some(fallback) => fallback(req, res),
                None => {
                    res.status(StatusCode::NOT_FOUND);
                }
            },
        }
    }

    fn intake(&self, req: &Request<'_>) -> Intake {
        match self.find(req.method().as_str(), req.path()) {
            Ok((route, params)) => route.intake(req, &params),
            // Answered 404 or 405 once the body is in, as without a body.
            Err(_) => Intake::Buffer,
        }
    }

    fn error_response(&self, status: StatusCode, req: Option<&Request<'_>>, res: &mut Response<'_>) {
        if let Some(f) = &self.error_response {
            f(status, req, res);
        }
    }

    fn ws_open(&self, ws: &WebSocket) {
        self.ws.ws_open(ws);
    }

    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        self.ws.ws_message(ws, msg);
    }

    fn ws_close(&self, ws: &WebSocket, code: CloseCode) {
        self.ws.ws_close(ws, code);
    }
}
