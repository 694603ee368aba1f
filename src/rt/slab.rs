//! Fixed-capacity storage for a worker's connections, keyed by small
//! integers that double as poll tokens.

/// A slab that never grows past its capacity (its storage is reserved up
/// front, so inserting never reallocates).
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// Keys are below this (the Vec may have reserved more).
    capacity: usize,
    next_free: usize,
    len: usize,
}

enum Entry<T> {
    Occupied(T),
    Vacant(usize),
}

impl<T> Slab<T> {
    /// An empty slab for at most `capacity` values.
    pub fn with_capacity(capacity: usize) -> Self {
        Slab { entries: Vec::with_capacity(capacity), capacity, next_free: 0, len: 0 }
    }

    /// Stores `value` and returns its key, or gives it back when full.
    pub fn insert(&mut self, value: T) -> Result<usize, T> {
        let key = self.next_free;
        let capacity = self.capacity;
        match self.entries.get_mut(key) {
            Some(slot) => {
                let Entry::Vacant(next) = *slot else { unreachable!("free list points at a value") };
                self.next_free = next;
                *slot = Entry::Occupied(value);
            }
            None if key < capacity => {
                self.entries.push(Entry::Occupied(value));
                self.next_free = key + 1;
            }
            None => return Err(value),
        }
        self.len += 1;
        Ok(key)
    }

    /// Stores the value `make` builds from its key (a value that must know
    /// its own key); `Err` with nothing built when full.
    pub fn insert_with(&mut self, make: impl FnOnce(usize) -> T) -> Result<usize, ()> {
        if self.next_free >= self.capacity {
            return Err(());
        }
        let value = make(self.next_free);
        self.insert(value).map_err(|_| ())
    }

    /// The value at `key`.
    pub fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        match self.entries.get_mut(key) {
            Some(Entry::Occupied(v)) => Some(v),
            _ => None,
        }
    }

    /// Takes the value at `key` out.
    pub fn remove(&mut self, key: usize) -> Option<T> {
        let slot = self.entries.get_mut(key)?;
        if let Entry::Vacant(_) = slot {
            return None;
        }
        let Entry::Occupied(v) = std::mem::replace(slot, Entry::Vacant(self.next_free)) else {
            unreachable!()
        };
        self.next_free = key;
        self.len -= 1;
        Some(v)
    }

    /// Number of values stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// One past the highest key ever used (keys below it may be vacant).
    pub fn key_bound(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_frees_and_reuses_keys() {
        let mut s = Slab::with_capacity(2);
        let a = s.insert('a').unwrap();
        let b = s.insert('b').unwrap();
        assert_eq!(s.insert('c'), Err('c'));
        assert_eq!(s.remove(a), Some('a'));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.insert('d'), Ok(a));
        assert_eq!(s.get_mut(b), Some(&mut 'b'));
        assert_eq!(s.len(), 2);
        assert_eq!(s.get_mut(7), None);
    }
}
