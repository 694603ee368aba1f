//! Connections to drive again on the next turn of a loop, readiness or
//! not: one that stopped at its turn's budget with input left, which no
//! new edge would announce. Each is queued at most once, so one that
//! also has events keeps one turn, not a growing number.

/// A set of slab keys in the order they were queued.
pub struct Again {
    keys: Vec<usize>,
    queued: Box<[bool]>,
}

impl Again {
    /// For keys `0..capacity`; never allocates afterwards.
    pub fn new(capacity: usize) -> Self {
        Again { keys: Vec::with_capacity(capacity), queued: vec![false; capacity].into_boxed_slice() }
    }

    /// Queues `key`, unless it already is.
    pub fn push(&mut self, key: usize) {
        if !std::mem::replace(&mut self.queued[key], true) {
            self.keys.push(key);
        }
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Moves the queued keys into `into` (empty, as large) and forgets
    /// them, so that driving them may queue them again.
    pub fn take(&mut self, into: &mut Vec<usize>) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut self.keys, into);
        for &key in into.iter() {
            self.queued[key] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_once_until_taken() {
        let mut again = Again::new(4);
        again.push(2);
        again.push(1);
        again.push(2);
        let mut turn = Vec::with_capacity(4);
        again.take(&mut turn);
        assert_eq!(turn, [2, 1]);
        assert!(again.is_empty());
        again.push(2);
        assert!(!again.is_empty());
    }
}
