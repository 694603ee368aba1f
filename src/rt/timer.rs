//! Per-loop timeouts: one intrusive list per kind of timeout. The kinds
//! belong to the loop that uses them (an HTTP worker waits for other
//! things than a WebSocket thread); each names its own duration.
//!
//! Every timer of a kind has the same duration, so appending at the tail
//! keeps each list sorted by deadline: arming, disarming and finding the
//! next expiry are O(1) and allocate nothing (the links are preallocated,
//! one per connection slot).
//!
//! Deadlines are counted in ticks of [`TICK_MS`] from the lists' start,
//! rounded up: a timer fires at most a tick late, never early. A busy
//! keep-alive connection is re-armed after every request, mostly within
//! the tick it was last armed in; its deadline is then the same, and it
//! keeps its place in its list instead of being unlinked and appended.

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

/// Milliseconds in a tick: short against any timeout (the shortest
/// default is seconds), long against the gap between a busy connection's
/// requests.
pub const TICK_MS: u64 = 8;

#[derive(Clone, Copy)]
struct Link<K> {
    prev: u32,
    next: u32,
    /// In ticks from [`Timers::start`].
    deadline: u64,
    kind: Option<K>,
}

/// The timer lists of one loop.
pub struct Timers<K: TimerKind> {
    heads: [u32; MAX_KINDS],
    tails: [u32; MAX_KINDS],
    durations: [Duration; MAX_KINDS],
    /// When tick 0 began.
    start: Instant,
    /// The deadline of kind `k` armed at `since[k]`, the last time it was
    /// armed: a turn of the worker arms many timers with the same `now`,
    /// so each deadline is worked out once per turn and kind, not once
    /// per timer (and only for the kinds the turn uses).
    since: [Instant; MAX_KINDS],
    deadlines: [u64; MAX_KINDS],
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
        let start = Instant::now();
        let unarmed = Link { prev: NIL, next: NIL, deadline: 0, kind: None };
        Timers {
            heads: [NIL; MAX_KINDS],
            tails: [NIL; MAX_KINDS],
            durations,
            start,
            since: [start; MAX_KINDS],
            deadlines: durations.map(ticks_after),
            links: vec![unarmed; capacity],
        }
    }

    /// The tick at which a timer of `kind` armed at `now` is due.
    #[inline]
    fn deadline(&mut self, kind: K, now: Instant) -> u64 {
        let k = kind.index();
        if now != self.since[k] {
            self.since[k] = now;
            self.deadlines[k] = ticks_after(now.saturating_duration_since(self.start) + self.durations[k]);
        }
        self.deadlines[k]
    }

    /// The tick under way at `now`: timers due at it or before have expired.
    fn tick_at(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.start);
        d.as_secs().saturating_mul(1000).saturating_add(u64::from(d.subsec_millis())) / TICK_MS
    }

    /// When `tick` begins.
    fn instant(&self, tick: u64) -> Instant {
        self.start + Duration::from_millis(tick.saturating_mul(TICK_MS))
    }

    /// The kind `key` is armed with, if any.
    pub fn armed(&self, key: usize) -> Option<K> {
        self.links[key].kind
    }

    /// (Re)arms `key` to fire `kind`'s duration after `now` (rounded up to
    /// a tick).
    pub fn arm(&mut self, key: usize, kind: K, now: Instant) {
        let deadline = self.deadline(kind, now);
        let link = self.links[key];
        if link.kind == Some(kind) && link.deadline == deadline {
            // Armed again within the same tick: its place stays right.
            return;
        }
        self.disarm(key);
        let k = kind.index();
        let tail = self.tails[k];
        self.links[key] = Link { prev: tail, next: NIL, deadline, kind: Some(kind) };
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
        kind.is_some_and(|k| {
            self.instant(deadline).saturating_duration_since(now) <= self.durations[k.index()] / 2
        })
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
            .map(|tick| self.instant(tick))
    }

    /// Disarms and returns one timer whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(usize, K)> {
        let tick = self.tick_at(now);
        for &kind in K::ALL {
            let head = self.heads[kind.index()];
            if head != NIL && self.links[head as usize].deadline <= tick {
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

/// The first tick that begins at or after `d` from the start.
fn ticks_after(d: Duration) -> u64 {
    let millis =
        d.as_secs().saturating_mul(1000).saturating_add(u64::from(d.subsec_nanos().div_ceil(1_000_000)));
    millis.div_ceil(TICK_MS)
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

    const TICK: Duration = Duration::from_millis(TICK_MS);

    /// `got` is `want`, or later by less than a tick.
    fn within_a_tick(got: Option<Instant>, want: Instant) {
        let got = got.expect("a deadline");
        assert!(
            got >= want && got - want < TICK,
            "{:?} after the exact deadline",
            got.checked_duration_since(want)
        );
    }

    #[test]
    fn expire_in_deadline_order() {
        let mut t = timers();
        let t0 = Instant::now();
        t.arm(3, Kind::Idle, t0);
        t.arm(1, Kind::Idle, t0 + Duration::from_millis(10));
        t.arm(5, Kind::Request, t0);
        within_a_tick(t.next_deadline(), t0 + Duration::from_secs(1));
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
        within_a_tick(t.next_deadline(), t0 + Duration::from_secs(1));
        t.disarm(0);
        t.disarm(3);
        within_a_tick(t.next_deadline(), t0 + Duration::from_secs(3));
    }

    #[test]
    fn a_timer_never_fires_early_and_pops_at_its_next_deadline() {
        let year = Duration::from_secs(365 * 86_400);
        for duration in
            [Duration::from_nanos(1), Duration::from_nanos(7_999_999), TICK, Duration::from_secs(1), year]
        {
            let mut t = Timers::new(8, |_: Kind| duration);
            let t0 = Instant::now();
            // Arm times all over a tick and beyond, to the nanosecond.
            for step in 0..200u64 {
                let armed = t0 + Duration::from_nanos(step * 123_457);
                t.arm(0, Kind::Idle, armed);
                let due = armed + duration;
                let next = t.next_deadline();
                within_a_tick(next, due);
                assert_eq!(
                    t.pop_expired(due - Duration::from_nanos(1)),
                    None,
                    "early, {duration:?} at {step}"
                );
                // The loop sleeps until `next_deadline`: the timer is due
                // then, not a turn later.
                let next = next.expect("armed");
                assert_eq!(t.pop_expired(next - Duration::from_nanos(1)), None, "{duration:?} at {step}");
                assert_eq!(t.pop_expired(next), Some((0, Kind::Idle)), "late, {duration:?} at {step}");
            }
        }
    }

    #[test]
    fn rearming_within_the_tick_keeps_the_place_and_later_moves_to_the_back() {
        let mut t = timers();
        // A millisecond into a tick: half a tick later is still in it.
        let t0 = t.instant(t.tick_at(Instant::now()) + 1) + Duration::from_millis(1);
        let mut keys = Vec::new();
        t.arm(0, Kind::Idle, t0);
        t.arm(1, Kind::Idle, t0);
        t.arm(0, Kind::Idle, t0 + Duration::from_millis(TICK_MS / 2));
        t.keys_of(Kind::Idle, &mut keys);
        assert_eq!(keys, [0, 1], "same deadline: no move");
        t.arm(0, Kind::Idle, t0 + TICK);
        t.keys_of(Kind::Idle, &mut keys);
        assert_eq!(keys, [1, 0], "a later tick: to the back");
        // The kept place is still in deadline order: both fire in turn.
        let late = t0 + Duration::from_secs(2);
        assert_eq!(
            (t.pop_expired(late), t.pop_expired(late)),
            (Some((1, Kind::Idle)), Some((0, Kind::Idle)))
        );
    }
}
