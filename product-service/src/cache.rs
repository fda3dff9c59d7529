//! A short-lived cache of the catalogue's public answers, so that hot reads do not cost a
//! database round trip each: `GET /v1/products/{id}` by id (the serialised product and its
//! ETag) and `GET /v1/products` pages by their query string (the serialised page). An admin
//! change of this process clears it at once (the admin sees their edit); stock movements
//! (reservations, sales, expiries) and writes of other replicas show after at most `TTL`, well
//! inside the `max-age` a product's answer already advertises. Clearing it on every reservation
//! emptied it dozens of times a second under checkout traffic, sending the hot reads back to
//! the database. What a shopper can buy is decided by the reservation in the database, never by
//! this cache; gRPC reads (checkouts) never use it.
use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};
use tokio::sync::Notify;
use uuid::Uuid;

const TTL: Duration = Duration::from_secs(1);
/// Entries, and bytes of answers, kept at most of each kind; a full cache starts again empty
/// (cheaper than an eviction policy). Anyone can ask for pages under new query strings (a
/// spelling of the same query is another entry), so the bytes are bounded, not only the count:
/// 10,000 pages of 100 products would be hundreds of MiB.
const MAX_ENTRIES: usize = 10_000;
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// A product as `GET /v1/products/{id}` answers it.
pub struct CachedProduct {
    pub etag: String,
    pub body: bytes::Bytes,
}

/// Values kept for `TTL` after they were put, within `MAX_ENTRIES` and `MAX_BYTES`.
struct Expiring<K, V> {
    entries: RwLock<Entries<K, V>>,
}

/// The values with when each was put and its size, and the sizes' sum.
struct Entries<K, V> {
    map: HashMap<K, (Instant, V, usize)>,
    bytes: usize,
}

impl<K, V> Default for Expiring<K, V> {
    fn default() -> Self {
        Self { entries: RwLock::new(Entries { map: HashMap::new(), bytes: 0 }) }
    }
}

impl<K: Hash + Eq, V: Clone> Expiring<K, V> {
    fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let entries = self.entries.read().ok()?;
        let (stored, value, _) = entries.map.get(key)?;
        (stored.elapsed() < TTL).then(|| value.clone())
    }

    /// Keeps `value`, of `bytes` bytes; one larger than the whole budget is not kept.
    fn put(&self, key: K, value: V, bytes: usize) {
        if bytes > MAX_BYTES {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.map.len() >= MAX_ENTRIES || entries.bytes + bytes > MAX_BYTES {
                entries.map.clear();
                entries.bytes = 0;
            }
            if let Some((_, _, replaced)) = entries.map.insert(key, (Instant::now(), value, bytes)) {
                entries.bytes -= replaced;
            }
            entries.bytes += bytes;
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.map.clear();
            entries.bytes = 0;
        }
    }
}

#[derive(Default)]
pub struct ProductCache {
    products: Expiring<Uuid, Arc<CachedProduct>>,
    /// Listing pages by the request's query string: the same string always asks the same.
    pages: Expiring<String, bytes::Bytes>,
}

impl ProductCache {
    pub fn get(&self, id: Uuid) -> Option<Arc<CachedProduct>> {
        self.products.get(&id)
    }

    pub fn put(&self, id: Uuid, product: Arc<CachedProduct>) {
        let bytes = product.body.len() + product.etag.len();
        self.products.put(id, product, bytes)
    }

    /// The page served for this query string within `TTL`.
    pub fn page(&self, query: &str) -> Option<bytes::Bytes> {
        self.pages.get(query)
    }

    pub fn put_page(&self, query: &str, body: bytes::Bytes) {
        let bytes = query.len() + body.len();
        self.pages.put(query.to_owned(), body, bytes)
    }

    pub fn clear(&self) {
        self.products.clear();
        self.pages.clear();
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
        committed.cache.put_page("page_size=5", "{\"products\":[]}".into());
        committed.stock_moved();
        assert_eq!(committed.cache.get(id).unwrap().etag, "\"1\"");
        assert_eq!(committed.cache.page("page_size=5").unwrap(), "{\"products\":[]}");
        assert!(committed.cache.page("page_size=6").is_none(), "another query is another page");
        committed.product_changed();
        assert!(committed.cache.get(id).is_none());
        assert!(committed.cache.page("page_size=5").is_none());
    }

    #[test]
    fn the_pages_kept_stay_within_the_byte_budget_however_many_queries_ask() {
        let cache = ProductCache::default();
        let page = bytes::Bytes::from(vec![b' '; 1024 * 1024]);
        for n in 0..100 {
            cache.put_page(&format!("min_price={}", "0".repeat(n)), page.clone());
            let kept = cache.pages.entries.read().unwrap().bytes;
            assert!(kept <= MAX_BYTES, "{kept} bytes after {n} pages");
        }
        // The newest is always kept: a full cache starts again rather than refusing it.
        assert!(cache.page(&format!("min_price={}", "0".repeat(99))).is_some());
        cache.put_page("too big", bytes::Bytes::from(vec![b' '; MAX_BYTES + 1]));
        assert!(cache.page("too big").is_none());
    }

    #[test]
    fn entries_expire() {
        let cache = ProductCache::default();
        let id = Uuid::now_v7();
        cache.put(id, Arc::new(CachedProduct { etag: "\"1\"".into(), body: "{}".into() }));
        cache.put_page("", "{}".into());
        assert!(cache.get(id).is_some() && cache.page("").is_some());
        std::thread::sleep(TTL + Duration::from_millis(50));
        assert!(cache.get(id).is_none() && cache.page("").is_none());
    }
}
