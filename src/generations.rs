//! A map bounded in two generations, for the process's small memories of
//! recent work (parsed documents, validated requests, the sandbox's
//! markets): no per-entry bookkeeping, and what is used recently stays.

use std::collections::HashMap;

/// How much one generation holds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most entries.
    pub entries: usize,
    /// Most bytes the entries' keys stand for.
    pub bytes: usize,
}

/// A map bounded in two generations: a full current generation (by
/// entries or by the bytes its keys stand for) becomes the old one, the
/// old one is dropped, and a hit in the old one moves up. Recently used
/// entries stay; nothing is tracked per entry.
#[derive(Debug)]
pub struct Generations<K, V> {
    current: HashMap<K, V>,
    current_bytes: usize,
    previous: HashMap<K, V>,
    bounds: Bounds,
    /// The bytes an entry counts for, from its key.
    bytes_of: fn(&K) -> usize,
}

impl<K: Eq + std::hash::Hash, V> Generations<K, V> {
    /// Empty, each generation within `bounds`, an entry counting `bytes_of` its key.
    pub fn new(bounds: Bounds, bytes_of: fn(&K) -> usize) -> Self {
        Self { current: HashMap::new(), current_bytes: 0, previous: HashMap::new(), bounds, bytes_of }
    }

    /// The value for `key`; a hit in the old generation moves up.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
    {
        if !self.current.contains_key(key) {
            let (kept, value) = self.previous.remove_entry(key)?;
            self.insert(kept, value);
        }
        self.current.get(key)
    }

    /// Keeps `value` for `key` in the current generation.
    pub fn insert(&mut self, key: K, value: V) {
        let bytes = (self.bytes_of)(&key);
        if self.current.len() >= self.bounds.entries || self.current_bytes + bytes > self.bounds.bytes {
            self.previous = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        if self.current.insert(key, value).is_none() {
            self.current_bytes += bytes;
        }
    }

    /// Takes `key`'s value out, from either generation.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
    {
        self.current.remove(key).or_else(|| self.previous.remove(key))
    }

    /// Entries kept, in both generations.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
