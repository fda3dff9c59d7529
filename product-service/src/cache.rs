//! A short-lived cache of `GET /v1/products/{id}` answers (the serialised product and its ETag),
//! so that hot products do not cost a database round trip per read. An admin change of this
//! process clears it at once (the admin sees their edit); stock movements (reservations, sales,
//! expiries) and writes of other replicas show after at most `TTL`, well inside the `max-age`
//! the answer already advertises. Clearing it on every reservation emptied it dozens of times a
//! second under checkout traffic, sending the hot reads back to the database. What a shopper
//! can buy is decided by the reservation in the database, never by this cache; gRPC reads
//! (checkouts) never use it.
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};
use tokio::sync::Notify;
use uuid::Uuid;

const TTL: Duration = Duration::from_secs(1);
/// Entries kept at most; a full cache starts again empty (cheaper than an eviction policy).
const MAX_ENTRIES: usize = 10_000;

/// A product as `GET /v1/products/{id}` answers it.
pub struct CachedProduct {
    pub etag: String,
    pub body: bytes::Bytes,
}

#[derive(Default)]
pub struct ProductCache {
    entries: RwLock<HashMap<Uuid, (Instant, Arc<CachedProduct>)>>,
}

impl ProductCache {
    pub fn get(&self, id: Uuid) -> Option<Arc<CachedProduct>> {
        let entries = self.entries.read().ok()?;
        let (stored, product) = entries.get(&id)?;
        (stored.elapsed() < TTL).then(|| Arc::clone(product))
    }

    pub fn put(&self, id: Uuid, product: Arc<CachedProduct>) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(id, (Instant::now(), product));
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

/// What a committed write of this process tells the rest of it: the outbox has events for the
/// relay, and, after an admin change, the cached answers are stale.
#[derive(Clone)]
pub struct Committed {
    pub cache: Arc<ProductCache>,
    pub outbox_ready: Arc<Notify>,
}

impl Committed {
    /// After an admin's create, update, delete or stock change.
    pub fn product_changed(&self) {
        self.cache.clear();
        self.outbox_ready.notify_one();
    }

    /// After a reservation, sale, release or expiry: the cache keeps its answers for up to `TTL`.
    pub fn stock_moved(&self) {
        self.outbox_ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_change_clears_the_cache_and_a_stock_movement_keeps_it() {
        let id = Uuid::now_v7();
        let committed = Committed { cache: Arc::new(ProductCache::default()), outbox_ready: Arc::new(Notify::new()) };
        committed.cache.put(id, Arc::new(CachedProduct { etag: "\"1\"".into(), body: "{}".into() }));
        committed.stock_moved();
        assert_eq!(committed.cache.get(id).unwrap().etag, "\"1\"");
        committed.product_changed();
        assert!(committed.cache.get(id).is_none());
    }

    #[test]
    fn entries_expire() {
        let cache = ProductCache::default();
        let id = Uuid::now_v7();
        cache.put(id, Arc::new(CachedProduct { etag: "\"1\"".into(), body: "{}".into() }));
        assert!(cache.get(id).is_some());
        std::thread::sleep(TTL + Duration::from_millis(50));
        assert!(cache.get(id).is_none());
    }
}
