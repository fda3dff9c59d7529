//! Carts in Redis. One hash per user, `cart:{user}`, with four fields per product line:
//! `q:<id>` quantity, `s:<id>` the product snapshot (a `CartLine` protobuf: name, unit price,
//! product version), `a:<id>` available ("1"/"0"), `v:<id>` the product version the line
//! reflects. A set per product, `cart:index:{product}`, names the users whose carts hold it,
//! so a product event reaches every such cart without a scan. Every change is one Lua script,
//! so a cart and the index never disagree and concurrent requests cannot interleave inside a
//! change. (The scripts name keys they compute: single-node Redis, not Redis Cluster.)
use crate::{
    error::CartError,
    proto::shop::{cart::v1::CartLine, common::v1::Money},
    redis_store::Redis,
};
use prost::Message;
use redis::Script;
use std::{collections::BTreeMap, sync::LazyLock, time::Duration};

pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: i64 = 99;

fn cart_key(user_id: &str) -> String {
    format!("cart:{user_id}")
}

fn index_key(product_id: &str) -> String {
    format!("cart:index:{product_id}")
}

/// A settled checkout's mark (`CartStore::settle`).
fn settled_key(checkout_id: &str) -> String {
    format!("cart:settled:{checkout_id}")
}

/// How long a settled checkout's mark is kept.
const SETTLED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where a keyed add is remembered: per user, so one shopper's key never meets another's.
fn added_key(user_id: &str, idempotency_key: &str) -> String {
    format!("cart:added:{user_id}:{idempotency_key}")
}

/// What a keyed add remembers of its request: a repeat must name the same product and quantity.
fn add_request(product_id: &str, quantity: i64) -> String {
    format!("{product_id}\n{quantity}")
}

/// How long a keyed add is remembered: longer than any client retries one request.
const ADDED_TTL: Duration = Duration::from_secs(24 * 3600);

/// What add-to-cart stores: the product as product-service described it just now.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub product_id: String,
    pub name: String,
    pub unit_price: Money,
    pub available: bool,
    pub version: i64,
}

impl Snapshot {
    fn encode(&self) -> Vec<u8> {
        CartLine {
            product_id: self.product_id.clone(),
            name: self.name.clone(),
            unit_price: Some(self.unit_price.clone()),
            product_version: self.version,
            ..Default::default()
        }
        .encode_to_vec()
    }
}

static ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cart, index, pid, request = KEYS[1], KEYS[2], ARGV[1], KEYS[3]
-- A repeat of a keyed add answers without adding again; the key on another add is refused.
if request ~= '' then
  local seen = redis.call('GET', request)
  if seen then
    if seen == ARGV[10] then return -3 end
    return -4
  end
end
local quantity = tonumber(redis.call('HGET', cart, 'q:' .. pid) or '0')
if quantity == 0 and redis.call('HLEN', cart) / 4 >= tonumber(ARGV[7]) then return -1 end
local total = quantity + tonumber(ARGV[5])
if total > tonumber(ARGV[6]) then return -2 end
redis.call('HSET', cart, 'q:' .. pid, total)
-- An event may already have brought a newer version of the product: keep that one.
if tonumber(ARGV[3]) >= tonumber(redis.call('HGET', cart, 'v:' .. pid) or '-1') then
  redis.call('HSET', cart, 's:' .. pid, ARGV[2], 'v:' .. pid, ARGV[3], 'a:' .. pid, ARGV[4])
end
redis.call('SADD', index, ARGV[9])
redis.call('EXPIRE', cart, ARGV[8])
redis.call('EXPIRE', index, ARGV[8])
if request ~= '' then redis.call('SET', request, ARGV[10], 'EX', ARGV[11]) end
return total
",
    )
});

static SET_QUANTITY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HEXISTS', KEYS[1], 'q:' .. ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'q:' .. ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local removed = redis.call('HDEL', KEYS[1], 'q:' .. ARGV[1], 's:' .. ARGV[1], 'a:' .. ARGV[1], 'v:' .. ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return removed
",
    )
});

/// Settles a sale, once: marks the checkout settled (KEYS[1], for ARGV[1] seconds) and takes each
/// bought line's units off the cart (KEYS[2]); a line goes when nothing is left of it, and leaves
/// its product's index (KEYS[3..], one a line). ARGV[2] is the user; then a product id and a
/// quantity a line. One script, so no lost connection comes between the mark and the takes: a
/// mark set by one call and takes left to another would leave bought units in the cart for good.
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 3, #KEYS do
  local pid = ARGV[2 * i - 3]
  local held = tonumber(redis.call('HGET', KEYS[2], 'q:' .. pid) or '0')
  if held > 0 then
    local left = held - tonumber(ARGV[2 * i - 2])
    if left > 0 then
      redis.call('HSET', KEYS[2], 'q:' .. pid, left)
    else
      redis.call('HDEL', KEYS[2], 'q:' .. pid, 's:' .. pid, 'a:' .. pid, 'v:' .. pid)
      redis.call('SREM', KEYS[i], ARGV[2])
    end
  end
end
return 1
",
    )
});

static CLEAR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 'q:' then
    redis.call('SREM', 'cart:index:' .. string.sub(field, 3), ARGV[1])
  end
end
return redis.call('DEL', KEYS[1])
",
    )
});

/// `claim`: KEYS record, alive; ARGV whether a text is expected, the text, the new one, the
/// record's TTL, the lease (seconds) and the run that beats.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
else
  if current ~= ARGV[2] then return 0 end
  redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
end
redis.call('SET', KEYS[2], ARGV[6], 'EX', ARGV[5])
return 1
",
    )
});

/// `beat`: KEYS the heartbeat; ARGV the run and the lease (seconds). A heartbeat that lapsed
/// (no key) is written again: the run still holds the record unless a claim replaced it.
static BEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
",
    )
});

/// `replace`: KEYS the key and a heartbeat key; ARGV the expected text, the new one, the TTL
/// for a key that was lost, whether to delete the heartbeat, and the run it must hold.
static REPLACE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
if current then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
if ARGV[4] == '1' and redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
return 1
",
    )
});

/// Sets a product's availability in every cart holding it, unless the cart already reflects a
/// newer version; forgets index entries of carts that no longer hold it (expired, removed).
static MARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local pid, changed = ARGV[1], 0
for _, user in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local cart = 'cart:' .. user
  if redis.call('HEXISTS', cart, 'q:' .. pid) == 0 then
    redis.call('SREM', KEYS[1], user)
  elseif tonumber(ARGV[3]) >= tonumber(redis.call('HGET', cart, 'v:' .. pid) or '-1') then
    redis.call('HSET', cart, 'v:' .. pid, ARGV[3])
    if ARGV[2] ~= '' then redis.call('HSET', cart, 'a:' .. pid, ARGV[2]) end
    if ARGV[4] ~= '' then redis.call('HSET', cart, 's:' .. pid, ARGV[4]) end
    changed = changed + 1
  end
end
return changed
",
    )
});

/// One line as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub product_id: String,
    pub quantity: i64,
    pub name: String,
    pub unit_price: Money,
    pub available: bool,
    pub version: i64,
}

#[derive(Clone)]
pub struct CartStore {
    redis: Redis,
    idle_ttl: Duration,
}

pub enum Added {
    Quantity(i64),
    CartFull,
    TooMany,
    /// The same Idempotency-Key with the same line was added before: nothing added now.
    Repeated,
    /// The Idempotency-Key was used for another product or quantity.
    KeyReused,
}

impl CartStore {
    pub fn new(redis: Redis, idle_ttl: Duration) -> Self {
        Self { redis, idle_ttl }
    }

    /// The cart's lines, ordered by product id (the hash fields come back sorted).
    pub async fn lines(&self, user_id: &str) -> Result<Vec<Line>, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let fields: BTreeMap<String, Vec<u8>> =
            redis::cmd("HGETALL").arg(cart_key(user_id)).query_async(&mut conn).await?;
        let mut lines = Vec::new();
        for (field, value) in &fields {
            let Some(product_id) = field.strip_prefix("q:") else { continue };
            let quantity = std::str::from_utf8(value).ok().and_then(|q| q.parse().ok()).unwrap_or(0);
            let snapshot = fields
                .get(&format!("s:{product_id}"))
                .and_then(|bytes| CartLine::decode(bytes.as_slice()).ok())
                .unwrap_or_default();
            lines.push(Line {
                product_id: product_id.to_owned(),
                quantity,
                name: snapshot.name,
                unit_price: snapshot.unit_price.unwrap_or_default(),
                available: fields.get(&format!("a:{product_id}")).is_some_and(|a| a == b"1"),
                version: snapshot.product_version.max(
                    fields
                        .get(&format!("v:{product_id}"))
                        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                        .unwrap_or(0),
                ),
            });
        }
        Ok(lines)
    }

    /// What an add under `idempotency_key` already did, if one did: `Repeated` for the same
    /// product and quantity, `KeyReused` for another. Read before product is asked for the
    /// product, so a repeat is answered even while product is slow or down; `add_once` checks
    /// again, atomically, for a repeat arriving meanwhile.
    pub async fn added_before(
        &self,
        user_id: &str,
        idempotency_key: &str,
        product_id: &str,
        quantity: i64,
    ) -> Result<Option<Added>, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let seen: Option<String> =
            redis::cmd("GET").arg(added_key(user_id, idempotency_key)).query_async(&mut conn).await?;
        Ok(seen.map(|seen| if seen == add_request(product_id, quantity) { Added::Repeated } else { Added::KeyReused }))
    }

    pub async fn add(&self, user_id: &str, snapshot: &Snapshot, quantity: i64) -> Result<Added, CartError> {
        self.add_once(user_id, snapshot, quantity, None).await
    }

    /// Adds `quantity` units, once per `idempotency_key` when one is given: a request repeated
    /// after its answer was lost (a replica died, the proxy tried another) adds nothing more.
    pub async fn add_once(
        &self,
        user_id: &str,
        snapshot: &Snapshot,
        quantity: i64,
        idempotency_key: Option<&str>,
    ) -> Result<Added, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let total: i64 = ADD
            .key(cart_key(user_id))
            .key(index_key(&snapshot.product_id))
            .key(idempotency_key.map(|key| added_key(user_id, key)).unwrap_or_default())
            .arg(&snapshot.product_id)
            .arg(snapshot.encode())
            .arg(snapshot.version)
            .arg(if snapshot.available { "1" } else { "0" })
            .arg(quantity)
            .arg(MAX_QUANTITY)
            .arg(MAX_LINES)
            .arg(self.idle_ttl.as_secs())
            .arg(user_id)
            .arg(add_request(&snapshot.product_id, quantity))
            .arg(ADDED_TTL.as_secs())
            .invoke_async(&mut conn)
            .await?;
        Ok(match total {
            -1 => Added::CartFull,
            -2 => Added::TooMany,
            -3 => Added::Repeated,
            -4 => Added::KeyReused,
            n => Added::Quantity(n),
        })
    }

    /// `false` when the cart holds no such line.
    pub async fn set_quantity(&self, user_id: &str, product_id: &str, quantity: i64) -> Result<bool, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let found: i64 = SET_QUANTITY
            .key(cart_key(user_id))
            .arg(product_id)
            .arg(quantity)
            .arg(self.idle_ttl.as_secs())
            .invoke_async(&mut conn)
            .await?;
        Ok(found == 1)
    }

    /// `false` when the cart held no such line.
    pub async fn remove(&self, user_id: &str, product_id: &str) -> Result<bool, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let removed: i64 = REMOVE
            .key(cart_key(user_id))
            .key(index_key(product_id))
            .arg(product_id)
            .arg(user_id)
            .invoke_async(&mut conn)
            .await?;
        Ok(removed > 0)
    }

    pub async fn clear(&self, user_id: &str) -> Result<(), CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let _: i64 = CLEAR.key(cart_key(user_id)).arg(user_id).invoke_async(&mut conn).await?;
        Ok(())
    }

    /// Applies what a product event says to every cart holding the product: availability
    /// (`None` leaves it), a new snapshot (`None` leaves it), at `version`. Returns how many
    /// carts changed.
    pub async fn mark(
        &self,
        product_id: &str,
        available: Option<bool>,
        snapshot: Option<&Snapshot>,
        version: i64,
    ) -> Result<i64, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let available = match available {
            Some(true) => "1",
            Some(false) => "0",
            None => "",
        };
        Ok(MARK
            .key(index_key(product_id))
            .arg(product_id)
            .arg(available)
            .arg(version)
            .arg(snapshot.map(Snapshot::encode).unwrap_or_default())
            .invoke_async(&mut conn)
            .await?)
    }

    /// Takes a sale's quantities out of the user's cart, once per checkout: the first call marks
    /// the checkout settled (for `SETTLED_TTL`) and takes them, a later one finds the mark and
    /// does nothing. Only `checkout::sale::Sale` calls it: the mark stands for a committed sale.
    pub async fn settle(&self, user_id: &str, checkout_id: &str, bought: &[(String, i64)]) -> Result<(), CartError> {
        let mut invocation = SETTLE.key(settled_key(checkout_id));
        invocation.key(cart_key(user_id)).arg(SETTLED_TTL.as_secs()).arg(user_id);
        for (product_id, quantity) in bought {
            invocation.key(index_key(product_id)).arg(product_id).arg(quantity);
        }
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let _settled_now: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(())
    }

    /// Whether `settle` ran for the checkout: product committed its sale.
    pub async fn is_settled(&self, checkout_id: &str) -> Result<bool, CartError> {
        Ok(self.get(&settled_key(checkout_id)).await?.is_some())
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        Ok(redis::cmd("GET").arg(key).query_async(&mut conn).await?)
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let _: () = redis::cmd("SET").arg(key).arg(value).arg("EX").arg(ttl.as_secs()).query_async(&mut conn).await?;
        Ok(())
    }

    /// Writes `value` under `key` if it still holds `expected` (`None`: if it does not exist;
    /// then with `ttl`), and sets `alive` to `run` for `lease` with it; `false` when another writer got
    /// there first. One script: of two callers that read the same text, one wins.
    pub async fn claim(
        &self,
        key: &str,
        (alive, run): (&str, &str),
        expected: Option<&str>,
        value: &str,
        ttl: Duration,
        lease: Duration,
    ) -> Result<bool, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let claimed: i64 = CLAIM
            .key(key)
            .key(alive)
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(value)
            .arg(ttl.as_secs())
            .arg(lease.as_secs())
            .arg(run)
            .invoke_async(&mut conn)
            .await?;
        Ok(claimed == 1)
    }

    /// Renews a checkout run's heartbeat `alive` for `lease`, unless another run holds it:
    /// `false` then (the checkout was taken over).
    pub async fn beat(&self, alive: &str, run: &str, lease: Duration) -> Result<bool, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let beaten: i64 = BEAT.key(alive).arg(run).arg(lease.as_secs()).invoke_async(&mut conn).await?;
        Ok(beaten == 1)
    }

    /// Replaces `key`'s text `expected` with `value`, keeping its expiry, and with it deletes
    /// the heartbeat key `release` names if that run still holds it; a key that is gone (Redis lost it) is written again with `ttl`.
    /// `false` when the key holds another text: someone else wrote it since, and theirs stays.
    pub async fn replace(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        release: Option<(&str, &str)>,
        ttl: Duration,
    ) -> Result<bool, CartError> {
        let mut conn = self.redis.connection().await.map_err(CartError::unavailable)?;
        let (alive, run) = release.unwrap_or((key, ""));
        let replaced: i64 = REPLACE
            .key(key)
            .key(alive)
            .arg(expected)
            .arg(value)
            .arg(ttl.as_secs())
            .arg(if release.is_some() { "1" } else { "0" })
            .arg(run)
            .invoke_async(&mut conn)
            .await?;
        Ok(replaced == 1)
    }
}
