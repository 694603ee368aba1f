//! Route patterns and the tree they are matched in: one node per path
//! segment, static children before a parameter before a trailing
//! wildcard, matched segment by segment without allocating.

/// Parameters a route may name at most (their values go into a fixed
/// array).
pub const MAX_PARAMS: usize = 8;

/// One segment of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Static(Box<str>),
    /// `:name`: matches any one non-empty segment.
    Param(Box<str>),
    /// `*name`, last: matches the rest of the path after its slash
    /// (possibly empty: `/static/*rest` matches `/static/`, not `/static`).
    Rest(Box<str>),
}

/// Parses `/a/:b/*c` into its segments; says what is wrong otherwise.
pub fn parse(pattern: &str) -> Result<Vec<Segment>, String> {
    let Some(rest) = pattern.strip_prefix('/') else {
        return Err(format!("route {pattern:?} does not start with '/'"));
    };
    if rest.is_empty() {
        return Ok(vec![Segment::Static("".into())]);
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(parts.len());
    let mut names: Vec<&str> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let segment = match part.as_bytes().first() {
            Some(b':') | Some(b'*') => {
                let name = &part[1..];
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(format!(
                        "route {pattern:?}: {part:?} needs a name of letters, digits and '_'"
                    ));
                }
                if names.contains(&name) {
                    return Err(format!("route {pattern:?} names {name:?} twice"));
                }
                names.push(name);
                if part.starts_with('*') {
                    if i + 1 != parts.len() {
                        return Err(format!("route {pattern:?}: {part:?} must be the last segment"));
                    }
                    Segment::Rest(name.into())
                } else {
                    Segment::Param(name.into())
                }
            }
            _ if part.contains([':', '*']) => {
                return Err(format!("route {pattern:?}: ':' and '*' may only start a segment"));
            }
            // Matched against the path as sent, which ends at `?` and holds
            // no space, control byte or `#` (the server refuses those): a
            // segment with one could never match.
            _ if !part.bytes().all(in_a_path) => {
                return Err(format!(
                    "route {pattern:?}: {part:?} has a character no request path holds \
                     (a space, a control byte, '?' or '#')"
                ));
            }
            _ => Segment::Static((*part).into()),
        };
        segments.push(segment);
    }
    if names.len() > MAX_PARAMS {
        return Err(format!("route {pattern:?} has more than {MAX_PARAMS} parameters"));
    }
    Ok(segments)
}

/// Whether a request's path may hold `b` as sent: the request line
/// takes visible ASCII and UTF-8 (as `httparse` does, and as clients send
/// `|`, `{` or `é` unencoded), and the path ends at `?` or `#`.
fn in_a_path(b: u8) -> bool {
    b > b' ' && b != 0x7f && b != b'?' && b != b'#'
}

/// A node of the tree: what may follow the path so far.
#[derive(Default)]
pub struct Node {
    /// Children by exact segment, sorted for binary search.
    statics: Vec<(Box<str>, Node)>,
    /// The child any one segment leads to.
    param: Option<Box<Node>>,
    /// A route whose last segment is a wildcard here.
    rest: Option<usize>,
    /// A route ending here.
    end: Option<usize>,
}

/// Routes a path matched but the caller turned down (for their method),
/// kept to say which methods the path has: the first few.
pub const MAX_REJECTED: usize = 8;

/// Where a path led: a route, and how many parameter values it wrote.
pub struct Found {
    pub route: usize,
    pub len: usize,
}

/// What a search met short of a route it could take.
#[derive(Default)]
pub struct Miss {
    /// The path ended, on some branch tried, where a wildcard would have
    /// matched the same path with a slash (`/static` for `/static/*rest`).
    pub short_of_wildcard: bool,
    /// Routes the path matched that were turned down, in the order tried.
    rejected: [usize; MAX_REJECTED],
    rejected_len: usize,
}

impl Miss {
    /// The routes the path matched that were turned down.
    pub fn rejected(&self) -> &[usize] {
        &self.rejected[..self.rejected_len]
    }
}

/// A search under way: the values so far (in the caller's array, which
/// the hit hands on as it is), what it met, and the caller's test of a
/// route, passed down the recursion as one reference.
struct Search<'p, 'a, F> {
    values: &'a mut [&'p str; MAX_PARAMS],
    len: usize,
    route: usize,
    miss: Miss,
    accept: &'a F,
}

impl<'p, F: Fn(usize) -> bool> Search<'p, '_, F> {
    /// Takes `route` if `accept` does, else notes it as turned down.
    fn offer(&mut self, route: usize) -> bool {
        if (self.accept)(route) {
            self.route = route;
            return true;
        }
        let miss = &mut self.miss;
        if miss.rejected_len < MAX_REJECTED && !miss.rejected().contains(&route) {
            miss.rejected[miss.rejected_len] = route;
            miss.rejected_len += 1;
        }
        false
    }

    /// Adds a parameter's value, unless there are as many as may be.
    fn push(&mut self, value: &'p str) -> bool {
        if self.len == MAX_PARAMS {
            return false;
        }
        self.values[self.len] = value;
        self.len += 1;
        true
    }
}

impl Node {
    /// Adds route `route` with `segments`; the route already there, if
    /// the same path shape was added before.
    pub fn insert(&mut self, segments: &[Segment], route: usize) -> Result<(), usize> {
        let Some((first, rest)) = segments.split_first() else {
            return match self.end {
                Some(existing) => Err(existing),
                None => {
                    self.end = Some(route);
                    Ok(())
                }
            };
        };
        match first {
            Segment::Static(text) => {
                let at = match self.statics.binary_search_by(|(s, _)| (**s).cmp(text)) {
                    Ok(at) => at,
                    Err(at) => {
                        self.statics.insert(at, (text.clone(), Node::default()));
                        at
                    }
                };
                self.statics[at].1.insert(rest, route)
            }
            Segment::Param(_) => self.param.get_or_insert_with(Box::default).insert(rest, route),
            Segment::Rest(_) => match self.rest {
                Some(existing) => Err(existing),
                None => {
                    self.rest = Some(route);
                    Ok(())
                }
            },
        }
    }

    /// The route `path` (which starts with `/`) leads to, static segments
    /// first, then a parameter, then a wildcard, backtracking as needed,
    /// and its parameters' values.
    #[cfg(test)]
    pub fn find<'p>(&self, path: &'p str) -> Option<(usize, Vec<&'p str>)> {
        let mut values = [""; MAX_PARAMS];
        let found = self.search(path, &mut values, &|_| true).ok()?;
        Some((found.route, values[..found.len].to_vec()))
    }

    /// The first route `path` (which starts with `/`) leads to that
    /// `accept` takes — static segments first, then a parameter, then a
    /// wildcard, backtracking as needed — with its parameters' values in
    /// `values`; or, in `Err`, what the search met: routes turned down, a
    /// wildcard it ended short of.
    pub fn search<'p>(
        &self,
        path: &'p str,
        values: &mut [&'p str; MAX_PARAMS],
        accept: &impl Fn(usize) -> bool,
    ) -> Result<Found, Miss> {
        let mut search = Search { values, len: 0, route: 0, miss: Miss::default(), accept };
        let Some(rest) = path.strip_prefix('/') else { return Err(search.miss) };
        if self.find_from(rest, &mut search) {
            Ok(Found { route: search.route, len: search.len })
        } else {
            Err(search.miss)
        }
    }

    fn find_from<'p, F: Fn(usize) -> bool>(&self, path: &'p str, s: &mut Search<'p, '_, F>) -> bool {
        // Segments are short: a plain scan beats a general searcher's set-up.
        let (segment, rest) = match path.bytes().position(|b| b == b'/') {
            Some(at) => (&path[..at], Some(&path[at + 1..])),
            None => (path, None),
        };
        // Few children each: comparing lengths, then first bytes, rejects
        // most of them before any full comparison.
        let first = segment.as_bytes().first();
        let same = |s: &str| s.len() == segment.len() && s.as_bytes().first() == first && s == segment;
        if let Some((_, child)) = self.statics.iter().find(|(s, _)| same(s)) {
            if child.descend(rest, s) {
                return true;
            }
        }
        if let Some(param) = &self.param {
            if !segment.is_empty() && s.push(segment) {
                if param.descend(rest, s) {
                    return true;
                }
                s.len -= 1;
            }
        }
        if let Some(route) = self.rest {
            if s.push(path) {
                if s.offer(route) {
                    return true;
                }
                s.len -= 1;
            }
        }
        false
    }

    /// Goes on with what follows a matched segment (`None`: the path ended).
    fn descend<'p, F: Fn(usize) -> bool>(&self, rest: Option<&'p str>, s: &mut Search<'p, '_, F>) -> bool {
        match rest {
            // `/static` ends here: `/static/*rest` wants the slash too
            // (`/a` and `/a/` are different paths).
            None => {
                s.miss.short_of_wildcard |= self.end.is_none() && self.rest.is_some();
                self.end.is_some_and(|route| s.offer(route))
            }
            Some(rest) => self.find_from(rest, s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(patterns: &[&str]) -> Node {
        let mut root = Node::default();
        for (i, p) in patterns.iter().enumerate() {
            root.insert(&parse(p).unwrap(), i).unwrap();
        }
        root
    }

    fn find<'p>(root: &Node, path: &'p str) -> Option<(usize, Vec<&'p str>)> {
        root.find(path)
    }

    #[test]
    fn statics_win_over_parameters_which_win_over_wildcards() {
        let root = tree(&[
            "/",
            "/users",
            "/users/me",
            "/users/:id",
            "/users/:id/posts/:post",
            "/files/*path",
            "/a/:x/c",
            "/a/b/d",
        ]);
        assert_eq!(find(&root, "/"), Some((0, vec![])));
        assert_eq!(find(&root, "/users"), Some((1, vec![])));
        assert_eq!(find(&root, "/users/me"), Some((2, vec![])));
        assert_eq!(find(&root, "/users/42"), Some((3, vec!["42"])));
        assert_eq!(find(&root, "/users/42/posts/7"), Some((4, vec!["42", "7"])));
        assert_eq!(find(&root, "/files/a/b.txt"), Some((5, vec!["a/b.txt"])));
        assert_eq!(find(&root, "/files/"), Some((5, vec![""])));
        assert_eq!(find(&root, "/files"), None, "a wildcard comes after a slash");
        let short = |path| {
            root.search(path, &mut [""; MAX_PARAMS], &|_| true)
                .err()
                .is_some_and(|miss| miss.short_of_wildcard)
        };
        assert!(short("/files") && !short("/nope"));
        assert!(!short("/users") && !short("/files/"));
        // `/a/b/c`: the static `b` leads nowhere, so the parameter is tried.
        assert_eq!(find(&root, "/a/b/c"), Some((6, vec!["b"])));
        assert_eq!(find(&root, "/a/b/d"), Some((7, vec![])));
        assert_eq!(find(&root, "/users/"), None, "a parameter is never empty");
        assert_eq!(find(&root, "/users/42/"), None);
        assert_eq!(find(&root, "/nope"), None);
        assert_eq!(find(&root, "nope"), None);
    }

    #[test]
    fn a_route_turned_down_is_backtracked_over_and_noted() {
        let root = tree(&["/users/me", "/users/:name", "/users/*rest"]);
        let only = |taken: usize| move |route: usize| route == taken;
        let mut values = [""; MAX_PARAMS];
        let found = root.search("/users/me", &mut values, &only(1)).ok().unwrap();
        assert_eq!((found.route, &values[..found.len]), (1, &["me"][..]));
        let found = root.search("/users/me", &mut values, &only(2)).ok().unwrap();
        assert_eq!((found.route, &values[..found.len]), (2, &["me"][..]));
        let miss = root.search("/users/me", &mut values, &|_| false).err().unwrap();
        assert_eq!(miss.rejected(), [0, 1, 2]);
        assert_eq!(root.search("/nope", &mut values, &|_| false).err().unwrap().rejected(), [] as [usize; 0]);
    }

    #[test]
    fn bad_patterns_and_conflicts_are_refused() {
        for bad in [
            "users",
            "/a/:",
            "/a/*",
            "/*rest/more",
            "/a/b:c",
            "/:a/:a",
            "/:x-y",
            "/a b",
            "/a?x=1",
            "/a#b",
            "/a\tb",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let mut root = tree(&["/users/:id"]);
        assert_eq!(root.insert(&parse("/users/:name").unwrap(), 9), Err(0));
        let nine = "/:a/:b/:c/:d/:e/:f/:g/:h/:i";
        assert!(parse(nine).is_err());
        // What clients send unencoded, and the server takes, can be routed.
        for good in ["/a|b", "/items[]", "/{id}", "/é", "/a%20b"] {
            assert!(parse(good).is_ok(), "{good:?}");
        }
    }
}
