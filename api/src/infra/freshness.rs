//! How current a remembered answer is. The process counts the changes it has made or heard of
//! (every mutation, every lead change it publishes, every change another process announces);
//! anything remembered notes the count and the time when it was read from the database, and is
//! used again only while the count is unchanged and it is younger than its age limit. The limit
//! bounds what no announcement covers: another process on SQLite, a CLI, a lost connection.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

#[derive(Default)]
pub struct Freshness {
    changes: AtomicU64,
}

/// The moment a value was read: taken *before* reading, so that a change committed while it is
/// read makes it stale rather than slipping past.
#[derive(Clone, Copy)]
pub struct ReadAt {
    changes: u64,
    at: Instant,
}

impl Freshness {
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    pub fn now(&self) -> ReadAt {
        ReadAt { changes: self.changes.load(Ordering::Acquire), at: Instant::now() }
    }
}

/// Values kept for reuse, at most `capacity` of them, each valid as `Freshness` says.
pub struct Recent<K, V> {
    max_age: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (V, ReadAt)>>,
}

impl<K: Hash + Eq, V: Clone> Recent<K, V> {
    /// A `max_age` of zero keeps nothing.
    pub fn new(max_age: Duration, capacity: usize) -> Self {
        Self { max_age, capacity, entries: Mutex::new(HashMap::new()) }
    }

    pub fn is_enabled(&self) -> bool {
        !self.max_age.is_zero()
    }

    pub fn get<Q>(&self, key: &Q, now: ReadAt) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().expect("not poisoned");
        let (value, read) = entries.get(key)?;
        self.is_current(read, now).then(|| value.clone())
    }

    /// Keeps `value`, read at `read`. When full, the outdated entries go first, and if all are
    /// current, everything: a flood of distinct keys costs what it would without the cache.
    pub fn put(&self, key: K, value: V, read: ReadAt) {
        if !self.is_enabled() {
            return;
        }
        let now = ReadAt { changes: read.changes, at: Instant::now() };
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, kept)| self.is_current(kept, now));
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, read));
    }

    fn is_current(&self, kept: &ReadAt, now: ReadAt) -> bool {
        kept.changes == now.changes && now.at.saturating_duration_since(kept.at) < self.max_age
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_or_age_makes_values_stale() {
        let freshness = Freshness::default();
        let recent = Recent::new(Duration::from_millis(50), 8);
        let read = freshness.now();
        recent.put("a", 1, read);
        assert_eq!(recent.get("a", freshness.now()), Some(1));
        freshness.changed();
        assert_eq!(recent.get("a", freshness.now()), None, "a change since the read");

        let read = freshness.now();
        recent.put("a", 2, read);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(recent.get("a", freshness.now()), None, "older than the limit");
    }

    #[test]
    fn a_value_read_across_a_change_is_never_served() {
        let freshness = Freshness::default();
        let recent = Recent::new(Duration::from_secs(60), 8);
        let read = freshness.now();
        freshness.changed(); // committed while the value was being read
        recent.put("a", 1, read);
        assert_eq!(recent.get("a", freshness.now()), None);
    }

    #[test]
    fn stays_within_capacity_and_zero_age_keeps_nothing() {
        let freshness = Freshness::default();
        let recent = Recent::new(Duration::from_secs(60), 4);
        for i in 0..10 {
            recent.put(i, i, freshness.now());
        }
        assert!(recent.entries.lock().unwrap().len() <= 4);
        assert_eq!(recent.get(&9, freshness.now()), Some(9));

        let off = Recent::new(Duration::ZERO, 4);
        off.put(1, 1, freshness.now());
        assert_eq!(off.get(&1, freshness.now()), None);
    }
}
