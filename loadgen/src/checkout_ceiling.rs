//! A checkout's ceiling: the rate at which its stores alone do a checkout's work on this
//! machine. A checkout reserves and then commits stock in PostgreSQL (product), writes a
//! charge's rows in MariaDB (payment) and runs cart's commands in Redis; the three share the
//! machine's two cores and its disk, so their times add up: the ceiling is
//! `1 / (1/reservations + 1/charges + commands/redis)` checkouts per second.
use crate::ceilings::{postgres, run};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A scratch database the `product` login may create, rebuilt from product's migrations.
const DATABASE: &str = "loadgen_reservations";
/// Products in the scratch catalogue, as many as the benchmark's fixtures: a reservation picks
/// one at random, so that concurrent clients contend on rows as the checkout scenario does.
const PRODUCTS: usize = 20;

/// One checkout's rows in product's database, as pgbench's transactions: the reservation (the
/// reservation, its line, the stock held, its event) and its commit (the stock sold, the
/// reservation committed, its event), each its own transaction as in product-service.
const RESERVATION_SCRIPT: &str = r#"\set p random(1, 20)
BEGIN;
INSERT INTO reservations (id, state, expires_at) VALUES (gen_random_uuid()::text, 'reserved', now() + interval '15 minutes') RETURNING id AS rid \gset
UPDATE products SET reserved = reserved + 1, version = version + 1 WHERE sku = 'loadgen-:p' RETURNING id AS pid, price_minor AS price \gset
INSERT INTO reservation_lines (reservation_id, product_id, quantity, name, price_minor, currency) VALUES (':rid', ':pid', 1, 'Bench mug', :price, 'EUR');
INSERT INTO outbox (event_id, topic, aggregate_id, event_type, envelope) VALUES (gen_random_uuid(), 'product.events.v1', ':rid', 'StockReserved', decode(repeat('00', 200), 'hex'));
COMMIT;
BEGIN;
SELECT state FROM reservations WHERE id = ':rid' FOR UPDATE;
UPDATE products SET on_hand = on_hand - 1, reserved = reserved - 1, version = version + 1 WHERE id = ':pid';
INSERT INTO outbox (event_id, topic, aggregate_id, event_type, envelope) VALUES (gen_random_uuid(), 'product.events.v1', ':rid', 'ReservationCommitted', decode(repeat('00', 200), 'hex'));
UPDATE reservations SET state = 'committed', updated_at = now() WHERE id = ':rid';
COMMIT;
"#;

/// The parts of a checkout's ceiling, measured in the run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CheckoutCeiling {
    /// pgbench: a reservation and its commit per transaction, per second.
    pub reservations_per_s: f64,
    /// mariadb-slap: a charge's rows per second (the Charge ceiling).
    pub charge_rows_per_s: f64,
    /// redis-benchmark SET per second.
    pub redis_per_s: f64,
    /// Redis commands a checkout (add an item, then check out) ran, counted in the run.
    pub redis_commands_per_checkout: f64,
    /// The checkouts per second the three allow together.
    pub checkouts_per_s: f64,
}

impl CheckoutCeiling {
    pub fn new(reservations_per_s: f64, charge_rows_per_s: f64, redis_per_s: f64, redis_commands: f64) -> Self {
        let seconds = 1.0 / reservations_per_s + 1.0 / charge_rows_per_s + redis_commands / redis_per_s;
        let checkouts_per_s = if seconds.is_finite() && seconds > 0.0 { 1.0 / seconds } else { 0.0 };
        CheckoutCeiling {
            reservations_per_s,
            charge_rows_per_s,
            redis_per_s,
            redis_commands_per_checkout: redis_commands,
            checkouts_per_s,
        }
    }
}

/// Transactions per second of pgbench running `RESERVATION_SCRIPT` at `clients` connections
/// against a scratch copy of product's schema (its migrations, in order), dropped afterwards.
pub fn pgbench_reservations(clients: usize, duration: Duration) -> Result<f64> {
    let steps = crate::ceilings::migrations("product-service")?;
    let psql =
        |sql: &str| run(postgres("psql").args(["-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql]), "psql");
    psql(&format!("DROP DATABASE IF EXISTS {DATABASE}"))?;
    psql(&format!("CREATE DATABASE {DATABASE}"))?;
    let script = std::env::temp_dir().join(format!("loadgen-reservations-{}.sql", std::process::id()));
    let measured = (|| {
        for up in &steps {
            run(
                postgres("psql").args(["-q", "-v", "ON_ERROR_STOP=1", "-d", DATABASE, "-f"]).arg(up),
                "psql (product schema)",
            )?;
        }
        let seed = format!(
            "INSERT INTO products (id, sku, name, price_minor, currency, on_hand) \
             SELECT gen_random_uuid(), 'loadgen-' || n, 'Bench mug ' || n, 1250, 'EUR', 1000000000000 \
             FROM generate_series(1, {PRODUCTS}) AS n"
        );
        run(postgres("psql").args(["-q", "-v", "ON_ERROR_STOP=1", "-d", DATABASE, "-c", &seed]), "psql (products)")?;
        std::fs::write(&script, RESERVATION_SCRIPT)?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).to_string();
        let seconds = duration.as_secs().max(1).to_string();
        let text = run(
            postgres("pgbench")
                .args(["-n", "-c", &clients.to_string(), "-j", &threads, "-T", &seconds, "-f"])
                .arg(&script)
                .arg(DATABASE),
            "pgbench (reservations)",
        )?;
        crate::ceilings::tps(&text)
    })();
    let _ = std::fs::remove_file(&script);
    let _ = psql(&format!("DROP DATABASE IF EXISTS {DATABASE}"));
    measured
}

/// Redis's count of commands processed since it started (`INFO stats`): read before and after
/// a measured step, the commands the step ran.
pub fn redis_commands_processed() -> Result<f64> {
    let host = std::env::var("LOADGEN_REDIS_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("LOADGEN_REDIS_PORT").unwrap_or_else(|_| "6379".to_owned());
    let text =
        run(std::process::Command::new("redis-cli").args(["-h", &host, "-p", &port, "INFO", "stats"]), "redis-cli")?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no total_commands_processed in: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stores_times_add_up() {
        // 1/1000 + 1/2000 + 10/100000 = 0.0016 s a checkout.
        let ceiling = CheckoutCeiling::new(1000.0, 2000.0, 100_000.0, 10.0);
        assert!((ceiling.checkouts_per_s - 625.0).abs() < 1e-9, "{}", ceiling.checkouts_per_s);
        assert_eq!(CheckoutCeiling::new(0.0, 2000.0, 100_000.0, 10.0).checkouts_per_s, 0.0);
    }

    #[test]
    fn pgbench_writes_a_checkouts_reservation_rows_in_products_schema() -> Result<()> {
        let tps = pgbench_reservations(2, Duration::from_secs(1))?;
        assert!(tps > 0.0, "{tps}");
        Ok(())
    }
}
