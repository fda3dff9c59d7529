//! A short-lived cache of `GET /v1/products/{id}` answers (the serialised product and its ETag),
//! so that hot products do not cost a database round trip per read. Any write of this process
//! (a reservation, a sale, an expiry, an admin change) clears it at once; writes of other
//! replicas show after at most `TTL`, well inside the `max-age` the answer already advertises.
//! gRPC reads (checkouts) never use it.
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
    pub body: actix_web::web::Bytes,
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

/// What a committed write of this process tells the rest of it: the cached answers are stale,
/// and the outbox has events for the relay.
#[derive(Clone)]
pub struct Committed {
    pub cache: Arc<ProductCache>,
    pub outbox_ready: Arc<Notify>,
}

impl Committed {
    pub fn signal(&self) {
        self.cache.clear();
        self.outbox_ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_a_write_clears_them() {
        let cache = ProductCache::default();
        let id = Uuid::now_v7();
        cache.put(id, Arc::new(CachedProduct { etag: "\"1\"".into(), body: "{}".into() }));
        assert_eq!(cache.get(id).unwrap().etag, "\"1\"");
        let committed = Committed { cache: Arc::new(ProductCache::default()), outbox_ready: Arc::new(Notify::new()) };
        committed.cache.put(id, Arc::new(CachedProduct { etag: "\"2\"".into(), body: "{}".into() }));
        committed.signal();
        assert!(committed.cache.get(id).is_none());
    }
}
