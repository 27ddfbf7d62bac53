//! How current a remembered answer is. The process counts the changes it has made or heard of
//! (every mutation, every lead change it publishes, every change another process announces);
//! anything remembered notes the count and the time when it was read from the database, and is
//! used again only while the count is unchanged and it is younger than its age limit. The limit
//! bounds what no announcement covers: another process on SQLite, a CLI, a lost connection.

use std::{
    borrow::Borrow,
    hash::Hash,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use lru::LruCache;

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

impl ReadAt {
    /// A read at `changes` of a narrower count than the process's (say, the accounts'), for
    /// values that depend on nothing else: they outlive changes of other kinds.
    pub fn counting(changes: u64) -> Self {
        ReadAt { changes, at: Instant::now() }
    }
}

impl Freshness {
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    pub fn now(&self) -> ReadAt {
        ReadAt { changes: self.changes.load(Ordering::Acquire), at: Instant::now() }
    }
}

/// Values kept for reuse, within a budget (a count, or bytes as `weigh` measures them), the
/// least recently used leaving first; each is valid as `Freshness` says.
pub struct Recent<K: Hash + Eq, V> {
    max_age: Duration,
    budget: usize,
    weigh: fn(&K, &V) -> usize,
    kept: Mutex<Kept<K, V>>,
}

struct Kept<K: Hash + Eq, V> {
    entries: LruCache<K, (V, ReadAt, usize)>,
    weight: usize,
    /// The highest change count any kept value was read at. Counts only grow, so a value read
    /// at a lower one can never be served again.
    newest: u64,
}

impl<K: Hash + Eq, V: Clone> Recent<K, V> {
    /// At most `capacity` values. A `max_age` of zero keeps nothing.
    pub fn new(max_age: Duration, capacity: usize) -> Self {
        Self::weighed(max_age, capacity, |_, _| 1)
    }

    /// Values whose weights add up to at most `budget`; one heavier than that is not kept.
    pub fn weighed(max_age: Duration, budget: usize, weigh: fn(&K, &V) -> usize) -> Self {
        Self { max_age, budget, weigh, kept: Mutex::new(Kept { entries: LruCache::unbounded(), weight: 0, newest: 0 }) }
    }

    pub fn is_enabled(&self) -> bool {
        !self.max_age.is_zero() && self.budget > 0
    }

    pub fn get<Q>(&self, key: &Q, now: ReadAt) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut kept = self.kept.lock().expect("not poisoned");
        let (value, read, _) = kept.entries.get(key)?;
        if self.is_current(read, now) {
            return Some(value.clone());
        }
        // Stale for good (changes only grow, ages only increase): give its room back now.
        if let Some((_, _, weight)) = kept.entries.pop(key) {
            kept.weight -= weight;
        }
        None
    }

    /// Keeps `value`, read at `read`, making room by dropping the least recently used.
    pub fn put(&self, key: K, value: V, read: ReadAt) {
        let weight = (self.weigh)(&key, &value);
        if !self.is_enabled() || weight > self.budget {
            return;
        }
        let mut kept = self.kept.lock().expect("not poisoned");
        // Under steady writes every kept value goes stale within moments; left to the budget
        // they would hold it full of answers nobody can be given (tens of MiB).
        if read.changes < kept.newest {
            return;
        }
        if read.changes > kept.newest {
            kept.entries.clear();
            kept.weight = 0;
            kept.newest = read.changes;
        }
        if let Some((_, (_, _, replaced))) = kept.entries.push(key, (value, read, weight)) {
            kept.weight -= replaced;
        }
        kept.weight += weight;
        while kept.weight > self.budget {
            let Some((_, (_, _, dropped))) = kept.entries.pop_lru() else { break };
            kept.weight -= dropped;
        }
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
        assert_eq!(recent.kept.lock().unwrap().entries.len(), 4);
        assert_eq!(recent.get(&9, freshness.now()), Some(9));
        assert_eq!(recent.get(&5, freshness.now()), None, "the least recently used went first");

        let off = Recent::new(Duration::ZERO, 4);
        off.put(1, 1, freshness.now());
        assert_eq!(off.get(&1, freshness.now()), None);
    }

    #[test]
    fn a_byte_budget_drops_the_least_recently_used() {
        let freshness = Freshness::default();
        let recent: Recent<u32, Vec<u8>> = Recent::weighed(Duration::from_secs(60), 100, |_, v| v.len());
        recent.put(1, vec![0; 40], freshness.now());
        recent.put(2, vec![0; 40], freshness.now());
        assert!(recent.get(&1, freshness.now()).is_some(), "1 is now the more recently used");
        recent.put(3, vec![0; 40], freshness.now());
        assert!(recent.get(&2, freshness.now()).is_none(), "2 made room");
        assert!(recent.get(&1, freshness.now()).is_some() && recent.get(&3, freshness.now()).is_some());
        assert_eq!(recent.kept.lock().unwrap().weight, 80);
        recent.put(4, vec![0; 101], freshness.now());
        assert!(recent.get(&4, freshness.now()).is_none(), "heavier than the whole budget");
        recent.put(1, vec![0; 10], freshness.now());
        assert_eq!(recent.kept.lock().unwrap().weight, 50, "a replaced value gives its weight back");
    }

    #[test]
    fn a_change_gives_back_the_room_of_everything_read_before_it() {
        let freshness = Freshness::default();
        let recent: Recent<u32, Vec<u8>> = Recent::weighed(Duration::from_secs(60), 100, |_, v| v.len());
        let before = freshness.now();
        recent.put(1, vec![0; 40], before);
        recent.put(2, vec![0; 40], before);
        freshness.changed();
        recent.put(3, vec![0; 10], freshness.now());
        let kept = recent.kept.lock().unwrap();
        assert_eq!((kept.entries.len(), kept.weight), (1, 10), "only the value read after the change is kept");
        drop(kept);
        recent.put(4, vec![0; 10], before);
        assert_eq!(recent.kept.lock().unwrap().entries.len(), 1, "a value read before a known change is not kept");
    }
}
