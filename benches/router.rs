//! The router's matching against `matchit`'s (the radix tree axum uses),
//! on one route table: a part of GitHub's REST API, 40 routes with
//! parameters at several depths and a wildcard. Each iteration looks up
//! every request path once; both return the route and its parameters.
//!
//! `cargo bench --bench router`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use peregrine::{Params, Request, Response, Router};

const ROUTES: &[&str] = &[
    "/authorizations",
    "/authorizations/:id",
    "/applications/:client_id/tokens/:access_token",
    "/events",
    "/repos/:owner/:repo/events",
    "/networks/:owner/:repo/events",
    "/orgs/:org/events",
    "/users/:user/received_events",
    "/users/:user/received_events/public",
    "/users/:user/events",
    "/users/:user/events/public",
    "/users/:user/events/orgs/:org",
    "/feeds",
    "/notifications",
    "/repos/:owner/:repo/notifications",
    "/notifications/threads/:id",
    "/notifications/threads/:id/subscription",
    "/repos/:owner/:repo/stargazers",
    "/users/:user/starred",
    "/user/starred",
    "/user/starred/:owner/:repo",
    "/repos/:owner/:repo/subscribers",
    "/users/:user/subscriptions",
    "/user/subscriptions",
    "/repos/:owner/:repo/subscription",
    "/user/subscriptions/:owner/:repo",
    "/users/:user/gists",
    "/gists",
    "/gists/:id",
    "/gists/:id/star",
    "/repos/:owner/:repo/git/blobs/:sha",
    "/repos/:owner/:repo/git/commits/:sha",
    "/repos/:owner/:repo/git/refs",
    "/repos/:owner/:repo/git/tags/:sha",
    "/repos/:owner/:repo/git/trees/:sha",
    "/issues",
    "/user/issues",
    "/orgs/:org/issues",
    "/repos/:owner/:repo/issues/:number",
    "/static/*path",
];

const PATHS: &[&str] = &[
    "/authorizations",
    "/authorizations/12345",
    "/applications/abc/tokens/def",
    "/repos/rust-lang/rust/events",
    "/users/octocat/events/orgs/github",
    "/notifications/threads/99/subscription",
    "/user/starred/rust-lang/rust",
    "/gists/aa5a315d61ae9438b18d/star",
    "/repos/rust-lang/rust/git/trees/7638417db6d59f3c431d3e1f261cc637155684cd",
    "/repos/rust-lang/rust/issues/1",
    "/static/css/site.css",
    "/user/issues",
];

/// `/a/:b/*c` in matchit's syntax: `/a/{b}/{*c}`.
fn matchit_pattern(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| match s.as_bytes().first() {
            Some(b':') => format!("{{{}}}", &s[1..]),
            Some(b'*') => format!("{{*{}}}", &s[1..]),
            _ => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn routers(c: &mut Criterion) {
    let mut ours = Router::new();
    for (i, route) in ROUTES.iter().enumerate() {
        ours = ours.get(route, move |_: &Request<'_>, _: &mut Response<'_>, _: &Params<'_>| {
            black_box(i);
        });
    }
    let mut theirs = matchit::Router::new();
    for (i, route) in ROUTES.iter().enumerate() {
        theirs.insert(matchit_pattern(route), i).unwrap();
    }
    // Both find every path, with the same parameters.
    for path in PATHS {
        let (_, params) = ours.find("GET", path).unwrap_or_else(|_| panic!("{path}"));
        let matched = theirs.at(path).unwrap_or_else(|_| panic!("{path}"));
        let a: Vec<_> = params.iter().map(|(_, v)| v).collect();
        let b: Vec<_> = matched.params.iter().map(|(_, v)| v).collect();
        assert_eq!(a, b, "{path}");
    }
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(PATHS.len() as u64));
    group.bench_function("peregrine", |b| {
        b.iter(|| {
            for path in PATHS {
                let (route, params) = ours.find("GET", black_box(path)).ok().unwrap();
                black_box((route as *const _ as *const u8, params.len()));
            }
        })
    });
    group.bench_function("matchit", |b| {
        b.iter(|| {
            for path in PATHS {
                let matched = theirs.at(black_box(path)).unwrap();
                black_box((matched.value, matched.params.len()));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, routers);
criterion_main!(benches);
