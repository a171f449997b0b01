//! [`ReadCache`]: the barrier's bounded cache of decrypted entries.
//!
//! A hit skips the physical store (for SQLite: a blocking-pool hop and a B-tree lookup) and
//! the decryption. Absent keys are cached too, since engines often probe for entries that do
//! not exist. It lives in the barrier's unsealed state, so sealing drops it, and every value
//! is wiped when it leaves the cache. It is only correct when the barrier is the only writer
//! of the physical store: every write goes through, then invalidates its keys.
//!
//! A read that raced a write must not put the value it read back into the cache after the
//! write invalidated it. Each shard therefore has a generation, bumped by every invalidation;
//! a read caches its value only if its shard's generation did not move while it read.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

use zeroize::Zeroizing;

/// Shards: a read or an invalidation locks one, briefly, never across an `.await`.
const SHARDS: usize = 64;
/// Bookkeeping charged per entry on top of its key and value.
const ENTRY_OVERHEAD: usize = 64;

/// A cached entry: `None` when the key is known to be absent.
type Entry = Option<Zeroizing<Vec<u8>>>;

/// One shard of the cache.
#[derive(Default)]
struct Shard {
    /// Bumped by every invalidation of a key in this shard.
    generation: u64,
    entries: HashMap<String, Entry>,
    /// Bytes charged for `entries`.
    bytes: usize,
}

impl Shard {
    fn charge(key: &str, value: &Entry) -> usize {
        key.len() + value.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD
    }

    fn remove(&mut self, key: &str) {
        if let Some(value) = self.entries.remove(key) {
            self.bytes -= Self::charge(key, &value);
        }
    }

    /// Inserts, evicting arbitrary entries until the shard fits `budget`.
    fn insert(&mut self, key: String, value: Entry, budget: usize) {
        let cost = Self::charge(&key, &value);
        if cost > budget {
            return;
        }
        self.remove(&key);
        while self.bytes + cost > budget {
            let Some(victim) = self.entries.keys().next().cloned() else { break };
            self.remove(&victim);
        }
        self.bytes += cost;
        self.entries.insert(key, value);
    }
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// The cached plaintext (`None`: the key is absent).
    Hit(Option<Vec<u8>>),
    /// Not cached: read the store, then hand the value to [`ReadCache::fill`] with this.
    Miss(Ticket),
}

/// A miss's shard and generation, so that [`ReadCache::fill`] can tell whether a write
/// invalidated the key while the store was being read.
pub(crate) struct Ticket {
    shard: usize,
    generation: u64,
}

/// A bounded cache of decrypted entries (see the module documentation).
pub(crate) struct ReadCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// Bytes each shard may hold.
    shard_budget: usize,
}

impl ReadCache {
    /// A cache holding at most about `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        ReadCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            shard_budget: budget / SHARDS,
        }
    }

    /// Bytes charged for cached entries now.
    pub(crate) fn cached_bytes(&self) -> usize {
        (0..SHARDS).map(|i| self.lock(i).bytes).sum()
    }

    /// The cached value of `key`, or a ticket to fill it with.
    pub(crate) fn lookup(&self, key: &str) -> Lookup {
        let index = self.shard_of(key);
        let shard = self.lock(index);
        match shard.entries.get(key) {
            Some(hit) => Lookup::Hit(hit.as_ref().map(|v| v.to_vec())),
            None => Lookup::Miss(Ticket { shard: index, generation: shard.generation }),
        }
    }

    /// Caches what a miss read, unless a write invalidated its shard meanwhile.
    pub(crate) fn fill(&self, ticket: Ticket, key: &str, value: Option<&[u8]>) {
        let mut shard = self.lock(ticket.shard);
        if shard.generation == ticket.generation {
            let value = value.map(|v| Zeroizing::new(v.to_vec()));
            shard.insert(key.to_string(), value, self.shard_budget);
        }
    }

    /// Forgets `keys`; a read of them that is under way will not cache what it read.
    pub(crate) fn invalidate<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        for key in keys {
            let mut shard = self.lock(self.shard_of(key));
            shard.remove(key);
            shard.generation += 1;
        }
    }

    /// Forgets every key under `prefix`, and fences reads under way in every shard.
    pub(crate) fn invalidate_prefix(&self, prefix: &str) {
        for index in 0..SHARDS {
            let mut shard = self.lock(index);
            let doomed: Vec<String> =
                shard.entries.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
            for key in doomed {
                shard.remove(&key);
            }
            shard.generation += 1;
        }
    }

    fn shard_of(&self, key: &str) -> usize {
        self.hasher.hash_one(key) as usize % SHARDS
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard cannot leave it inconsistent in a way that matters
        // more than losing the cache: keep serving.
        self.shards[shard].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn get_or_fill(cache: &ReadCache, key: &str, stored: Option<&[u8]>) -> Option<Vec<u8>> {
        match cache.lookup(key) {
            Lookup::Hit(v) => v,
            Lookup::Miss(ticket) => {
                cache.fill(ticket, key, stored);
                stored.map(<[u8]>::to_vec)
            }
        }
    }

    #[test]
    fn the_budget_bounds_what_is_held() {
        let cache = ReadCache::new(SHARDS * 4096);
        for i in 0..2000 {
            let key = format!("k{i}");
            get_or_fill(&cache, &key, Some(&[7; 500]));
            assert!(matches!(cache.lookup(&key), Lookup::Hit(Some(v)) if v.len() == 500));
        }
        assert!(cache.cached_bytes() <= SHARDS * 4096, "{}", cache.cached_bytes());
        assert!(cache.cached_bytes() > SHARDS * 2048, "evicts only what it must");
    }

    #[test]
    fn a_fill_after_an_invalidation_is_dropped() {
        let cache = ReadCache::new(1 << 20);
        let Lookup::Miss(ticket) = cache.lookup("k") else { panic!("empty cache hit") };
        cache.invalidate(["k"]);
        cache.fill(ticket, "k", Some(b"old"));
        assert!(matches!(cache.lookup("k"), Lookup::Miss(_)));
        let Lookup::Miss(ticket) = cache.lookup("p/k") else { panic!("empty cache hit") };
        cache.invalidate_prefix("q/");
        cache.fill(ticket, "p/k", Some(b"old"));
        assert!(matches!(cache.lookup("p/k"), Lookup::Miss(_)), "a prefix fences every shard");
    }

    #[test]
    fn absence_is_cached_and_invalidation_forgets_it() {
        let cache = ReadCache::new(1 << 20);
        assert_eq!(get_or_fill(&cache, "a", None), None);
        assert!(matches!(cache.lookup("a"), Lookup::Hit(None)));
        get_or_fill(&cache, "p/x", Some(b"x"));
        cache.invalidate_prefix("p/");
        assert!(matches!(cache.lookup("p/x"), Lookup::Miss(_)));
        cache.invalidate(["a"]);
        assert!(matches!(cache.lookup("a"), Lookup::Miss(_)));
        assert_eq!(cache.cached_bytes(), 0);
    }
}
