//! Per-loop timeouts: one intrusive list per kind of timeout. The kinds
//! belong to the loop that uses them (an HTTP worker waits for other
//! things than a WebSocket thread); each names its own duration.
//!
//! Every timer of a kind has the same duration, so appending at the tail
//! keeps each list sorted by deadline: arming, disarming and finding the
//! next expiry are O(1) and allocate nothing (the links are preallocated,
//! one per connection slot).

use std::time::{Duration, Instant};

/// What a loop's connections wait for: a small enum, one list per variant.
pub trait TimerKind: Copy + Eq + std::fmt::Debug + 'static {
    /// Every kind, in the order of their lists (at most [`MAX_KINDS`]).
    const ALL: &'static [Self];

    /// The kind's place in `ALL`.
    fn index(self) -> usize;
}

/// Kinds a loop may have at most.
pub const MAX_KINDS: usize = 6;
const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Link<K> {
    prev: u32,
    next: u32,
    deadline: Instant,
    kind: Option<K>,
}

/// The timer lists of one loop.
pub struct Timers<K: TimerKind> {
    heads: [u32; MAX_KINDS],
    tails: [u32; MAX_KINDS],
    durations: [Duration; MAX_KINDS],
    /// `since[k] + durations[k]` for the last `since[k]` kind `k` was
    /// armed with: a turn of the worker arms many timers with the same
    /// `now`, so each deadline is added up once per turn and kind, not
    /// once per timer (and only for the kinds the turn uses).
    since: [Instant; MAX_KINDS],
    deadlines: [Instant; MAX_KINDS],
    links: Vec<Link<K>>,
}

impl<K: TimerKind> Timers<K> {
    /// Timers for keys `0..capacity`, each kind lasting `duration(kind)`.
    pub fn new(capacity: usize, duration: impl Fn(K) -> Duration) -> Self {
        assert!(K::ALL.len() <= MAX_KINDS, "at most {MAX_KINDS} kinds of timer");
        let mut durations = [Duration::ZERO; MAX_KINDS];
        for &kind in K::ALL {
            durations[kind.index()] = duration(kind);
        }
        let unarmed = Link { prev: NIL, next: NIL, deadline: Instant::now(), kind: None };
        let since = unarmed.deadline;
        Timers {
            heads: [NIL; MAX_KINDS],
            tails: [NIL; MAX_KINDS],
            durations,
            since: [since; MAX_KINDS],
            deadlines: durations.map(|d| since + d),
            links: vec![unarmed; capacity],
        }
    }

    /// The kind `key` is armed with, if any.
    pub fn armed(&self, key: usize) -> Option<K> {
        self.links[key].kind
    }

    /// (Re)arms `key` to fire `kind`'s duration after `now`.
    pub fn arm(&mut self, key: usize, kind: K, now: Instant) {
        self.disarm(key);
        let k = kind.index();
        if now != self.since[k] {
            self.since[k] = now;
            self.deadlines[k] = now + self.durations[k];
        }
        let tail = self.tails[k];
        self.links[key] = Link { prev: tail, next: NIL, deadline: self.deadlines[k], kind: Some(kind) };
        match tail {
            NIL => self.heads[k] = key as u32,
            t => self.links[t as usize].next = key as u32,
        }
        self.tails[k] = key as u32;
    }

    /// Arms `key` with `kind` unless it already is: a slow client does not
    /// push its deadline back by trickling bytes.
    pub fn arm_once(&mut self, key: usize, kind: K, now: Instant) {
        if self.armed(key) != Some(kind) {
            self.arm(key, kind, now);
        }
    }

    /// Times `kind` from the last progress: restarts it if the connection
    /// `progressed`, else keeps a running one (so a client cannot extend a
    /// stall by sending what does not count, e.g. a writer that never reads).
    pub fn arm_since_progress(&mut self, key: usize, kind: K, progressed: bool, now: Instant) {
        if progressed {
            self.arm(key, kind, now);
        } else {
            self.arm_once(key, kind, now);
        }
    }

    /// Whether `key`'s timer has run at least half its course by `now`
    /// (false if it is not armed).
    pub fn half_gone(&self, key: usize, now: Instant) -> bool {
        let Link { deadline, kind, .. } = self.links[key];
        kind.is_some_and(|k| deadline.saturating_duration_since(now) <= self.durations[k.index()] / 2)
    }

    /// Removes `key`'s timer, if armed.
    pub fn disarm(&mut self, key: usize) {
        let Link { prev, next, kind, .. } = self.links[key];
        let Some(kind) = kind else { return };
        let k = kind.index();
        match prev {
            NIL => self.heads[k] = next,
            p => self.links[p as usize].next = next,
        }
        match next {
            NIL => self.tails[k] = prev,
            n => self.links[n as usize].prev = prev,
        }
        self.links[key].kind = None;
    }

    /// The earliest deadline of any armed timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        K::ALL
            .iter()
            .map(|k| self.heads[k.index()])
            .filter(|&h| h != NIL)
            .map(|h| self.links[h as usize].deadline)
            .min()
    }

    /// Disarms and returns one timer whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(usize, K)> {
        for &kind in K::ALL {
            let head = self.heads[kind.index()];
            if head != NIL && self.links[head as usize].deadline <= now {
                self.disarm(head as usize);
                return Some((head as usize, kind));
            }
        }
        None
    }

    /// Keys armed with `kind`, oldest first (collected into `out`, which
    /// the caller reuses).
    pub fn keys_of(&self, kind: K, out: &mut Vec<usize>) {
        out.clear();
        let mut at = self.heads[kind.index()];
        while at != NIL {
            out.push(at as usize);
            at = self.links[at as usize].next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kinds for the tests, lasting 1, 2, 3 and 4 s.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Kind {
        Idle,
        Request,
        Write,
        Linger,
    }

    impl TimerKind for Kind {
        const ALL: &'static [Self] = &[Kind::Idle, Kind::Request, Kind::Write, Kind::Linger];
        fn index(self) -> usize {
            self as usize
        }
    }

    fn timers() -> Timers<Kind> {
        Timers::new(8, |k| Duration::from_secs(1 + k as u64))
    }

    #[test]
    fn expire_in_deadline_order() {
        let mut t = timers();
        let t0 = Instant::now();
        t.arm(3, Kind::Idle, t0);
        t.arm(1, Kind::Idle, t0 + Duration::from_millis(10));
        t.arm(5, Kind::Request, t0);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.pop_expired(t0), None);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(t.pop_expired(later), Some((3, Kind::Idle)));
        assert_eq!(t.pop_expired(later), Some((1, Kind::Idle)));
        assert_eq!(t.pop_expired(later), Some((5, Kind::Request)));
        assert_eq!(t.pop_expired(later), None);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn disarm_and_rearm_unlink_cleanly() {
        let mut t = timers();
        let t0 = Instant::now();
        for k in 0..4 {
            t.arm(k, Kind::Idle, t0);
        }
        t.disarm(1);
        t.arm(2, Kind::Write, t0);
        t.disarm(7); // never armed: no effect
        let mut keys = Vec::new();
        t.keys_of(Kind::Idle, &mut keys);
        assert_eq!(keys, [0, 3]);
        t.keys_of(Kind::Write, &mut keys);
        assert_eq!(keys, [2]);
        t.arm_once(2, Kind::Write, t0 + Duration::from_secs(9));
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(1)));
        t.disarm(0);
        t.disarm(3);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(3)));
    }
}
