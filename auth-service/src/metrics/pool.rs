//! The database pool's state, read at each scrape: connections in use and idle against the
//! maximum, the requests waiting for one, and how long each request waited
//! (`db_pool_wait_seconds`, observed by `db::DbPool::get`). Waiting requests are the pool's saturation: each
//! waits up to the database timeout, then fails. deadpool counts a request whose connection is
//! still being opened as waiting too; only those beyond a full pool are exported, so a
//! database that is down (connections failing to open) does not read as a pool too small.
use crate::db::DbPool;
use prometheus::{
    core::{Collector, Desc},
    proto::MetricFamily,
    Histogram, HistogramOpts, IntGauge, IntGaugeVec, Opts,
};

/// Waits from 0.1 ms (a free connection) to 5 s (past any database timeout we set).
const WAIT_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The histogram `db::DbPool` observes each wait for a connection into.
pub fn wait_histogram() -> Result<Histogram, prometheus::Error> {
    Histogram::with_opts(
        HistogramOpts::new(
            "db_pool_wait_seconds",
            "How long each request for a database connection waited for one (opening it included)",
        )
        .buckets(WAIT_BUCKETS.to_vec()),
    )
}

pub struct PoolGauges {
    pool: DbPool,
    connections: IntGaugeVec,
    max: IntGauge,
    waiting: IntGauge,
}

impl PoolGauges {
    pub fn new(pool: DbPool) -> Result<Self, prometheus::Error> {
        Ok(Self {
            pool,
            connections: IntGaugeVec::new(
                Opts::new("db_pool_connections", "Open database connections of the pool, by state (in_use, idle)"),
                &["state"],
            )?,
            max: IntGauge::new("db_pool_max_connections", "The most connections the database pool opens")?,
            waiting: IntGauge::new(
                "db_pool_waiting_requests",
                "Requests waiting for a database connection now (the pool is exhausted while above 0)",
            )?,
        })
    }
}

impl Collector for PoolGauges {
    fn desc(&self) -> Vec<&Desc> {
        [self.connections.desc(), self.max.desc(), self.waiting.desc(), self.pool.waits().desc()].concat()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let status = self.pool.status();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.connections.with_label_values(&["in_use"]).set(count(status.size.saturating_sub(status.available)));
        self.connections.with_label_values(&["idle"]).set(count(status.available));
        self.max.set(count(status.max_size));
        let full = status.size >= status.max_size;
        self.waiting.set(if full { count(status.waiting) } else { 0 });
        [self.connections.collect(), self.max.collect(), self.waiting.collect(), self.pool.waits().collect()].concat()
    }
}
