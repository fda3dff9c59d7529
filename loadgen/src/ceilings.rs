//! What the machine itself can do, measured in the same run as the services: the stores'
//! own benchmark tools and the raw password-hash rate. A service's endpoint is judged by its
//! ratio to the ceiling it cannot beat.
use anyhow::{bail, Context, Result};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::{
    process::Command,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// pgbench's own database, created on first use (the `product` login may create databases).
const PGBENCH_DATABASE: &str = "loadgen_pgbench";

/// A PostgreSQL client program (`psql`, `createdb`, `pgbench`) logged in as the `product` login
/// (which may create databases). The password goes too: Debian's PostgreSQL asks for one on
/// TCP connections, and only a machine that trusts every local login got by without it.
pub(crate) fn postgres(program: &str) -> Command {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let mut command = Command::new(program);
    command
        .args(["-h", &var("PGHOST", "127.0.0.1"), "-p", &var("PGPORT", "5432")])
        .args(["-U", &var("PGUSER", "product")])
        // By environment, not argv, where `ps` would show it.
        .env("PGPASSWORD", var("PGPASSWORD", "product"));
    command
}

pub(crate) fn run(command: &mut Command, what: &str) -> Result<String> {
    let output = command.output().with_context(|| format!("{what} did not start"))?;
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `pgbench -S` (one primary-key SELECT per transaction) transactions per second at `clients`
/// connections: the rate at which PostgreSQL alone answers the query behind a product read.
pub fn pgbench_select(clients: usize, duration: Duration) -> Result<f64> {
    let exists = run(
        postgres("psql")
            .args(["-d", "postgres", "-tAc"])
            .arg(format!("SELECT 1 FROM pg_database WHERE datname = '{PGBENCH_DATABASE}'")),
        "psql",
    )?;
    if exists.trim() != "1" {
        run(postgres("createdb").arg(PGBENCH_DATABASE), "createdb")?;
        run(postgres("pgbench").args(["-i", "-q", "-s", "10", PGBENCH_DATABASE]), "pgbench -i")?;
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).to_string();
    let seconds = duration.as_secs().max(1).to_string();
    let text = run(
        postgres("pgbench")
            .args(["-S", "-n", "-c", &clients.to_string(), "-j", &threads, "-T", &seconds])
            .arg(PGBENCH_DATABASE),
        "pgbench -S",
    )?;
    tps(&text)
}

/// The transactions per second pgbench's output reports.
pub(crate) fn tps(text: &str) -> Result<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no tps in pgbench's output: {text}"))
}

/// `redis-benchmark` GET and SET requests per second at `clients` connections (no pipelining,
/// as the cart service sends its commands).
pub fn redis_benchmark(clients: usize) -> Result<(f64, f64)> {
    let host = std::env::var("LOADGEN_REDIS_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("LOADGEN_REDIS_PORT").unwrap_or_else(|_| "6379".to_owned());
    let csv = run(
        Command::new("redis-benchmark").args([
            "-h",
            &host,
            "-p",
            &port,
            "-c",
            &clients.to_string(),
            "-n",
            "200000",
            "-t",
            "get,set",
            "-q",
            "--csv",
        ]),
        "redis-benchmark",
    )?;
    let rate = |test: &str| {
        csv.lines()
            .find(|l| l.starts_with(&format!("\"{test}\"")))
            .and_then(|l| l.split(',').nth(1))
            .and_then(|n| n.trim_matches('"').parse::<f64>().ok())
            .with_context(|| format!("no {test} rate in redis-benchmark's output: {csv}"))
    };
    Ok((rate("GET")?, rate("SET")?))
}

/// A scratch database the `payment` login may create (its grant covers `payment_test_*`).
const MARIADB_DATABASE: &str = "payment_test_loadgen";
/// The rows a charge leaves behind — its idempotency key, the payment and its outbox event —
/// written by each `mariadb-slap` client as one transaction (five statements).
const CHARGE_ROWS: &str = r#"BEGIN;
INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, state, resource_id, locked_until, expires_at) VALUES (UUID(), UUID(), REPEAT('a', 64), 'completed', UUID(), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 1 DAY);
INSERT INTO payments (id, user_id, order_id, amount_minor, currency, status, gateway, gateway_reference, order_lines) VALUES (UUID(), UUID(), UUID(), 2500, 'EUR', 'succeeded', 'sandbox', UUID(), '[{"product_id":"p","name":"Enamel mug","quantity":2,"unit_price_minor":1250,"currency":"EUR"}]');
INSERT INTO outbox (event_id, topic, aggregate_id, event_type, envelope, traceparent) VALUES (UUID(), 'payment.events.v1', UUID(), 'PaymentSucceeded', REPEAT('x', 240), NULL);
COMMIT;
"#;
const STATEMENTS_PER_CHARGE: usize = 5;

fn mariadb(program: &str) -> Command {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let mut command = Command::new(program);
    command
        .args(["-h", &var("LOADGEN_MARIADB_HOST", "127.0.0.1"), "-P", &var("LOADGEN_MARIADB_PORT", "3306")])
        .args(["-u", &var("LOADGEN_MARIADB_USER", "payment")])
        // The password goes by environment, not argv, where `ps` would show it.
        .env("MYSQL_PWD", var("LOADGEN_MARIADB_PASSWORD", "payment"));
    command
}

/// A service's migrations (`<service>/migrations/*/up.sql`, beside this crate), in the order
/// they apply: the schema a scratch database is built from.
pub(crate) fn migrations(service: &str) -> Result<Vec<std::path::PathBuf>> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(service).join("migrations");
    let mut steps: Vec<_> = std::fs::read_dir(&folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("up.sql")))
        .filter(|up| up.is_file())
        .collect();
    steps.sort();
    Ok(steps)
}

/// Transactions per second of `mariadb-slap` writing a charge's rows at `clients` connections,
/// into a scratch database with payment-service's own schema (its migrations, applied in
/// order): the rate at which MariaDB alone stores what a `Charge` stores.
pub fn mariadb_charge_rows(clients: usize, duration: Duration) -> Result<f64> {
    let steps = migrations("payment-service")?;
    let mut schema = format!(
        "DROP DATABASE IF EXISTS {MARIADB_DATABASE}; CREATE DATABASE {MARIADB_DATABASE}; USE {MARIADB_DATABASE};\n"
    );
    for up in &steps {
        schema.push_str(&std::fs::read_to_string(up).with_context(|| format!("reading {}", up.display()))?);
        schema.push('\n');
    }
    let scratch = std::env::temp_dir().join(format!("loadgen-charge-rows-{}.sql", std::process::id()));
    std::fs::write(&scratch, CHARGE_ROWS)?;
    let measured = (|| {
        run(mariadb("mariadb").args(["-e", &schema]), "mariadb (payment schema)")?;
        // A short run first sizes the measured one to last about `duration`.
        let probe = slap(clients, 2_000 * STATEMENTS_PER_CHARGE, &scratch)?;
        let statements = ((probe * duration.as_secs_f64()) as usize).max(clients) * STATEMENTS_PER_CHARGE;
        slap(clients, statements, &scratch)
    })();
    let _ = std::fs::remove_file(&scratch);
    let _ = run(mariadb("mariadb").args(["-e", &format!("DROP DATABASE IF EXISTS {MARIADB_DATABASE}")]), "mariadb");
    measured
}

/// One `mariadb-slap` run of about `statements` statements over `clients` connections:
/// transactions per second from the charges stored and the seconds it reports.
fn slap(clients: usize, statements: usize, query: &std::path::Path) -> Result<f64> {
    let count = || -> Result<f64> {
        let text = run(
            mariadb("mariadb").args(["-N", "-B", "-e", &format!("SELECT COUNT(*) FROM {MARIADB_DATABASE}.payments")]),
            "mariadb (count)",
        )?;
        text.trim().parse().with_context(|| format!("no count in: {text}"))
    };
    let before = count()?;
    let text = run(
        mariadb("mariadb-slap")
            .arg(format!("--create-schema={MARIADB_DATABASE}"))
            .args(["--no-drop", "--delimiter=;", "--iterations=1"])
            .arg(format!("--query={}", query.display()))
            .arg(format!("--concurrency={clients}"))
            .arg(format!("--number-of-queries={statements}")),
        "mariadb-slap",
    )?;
    let seconds: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Average number of seconds to run all queries:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .with_context(|| format!("no timing in mariadb-slap's output: {text}"))?;
    Ok((count()? - before) / seconds)
}

/// argon2id hashes per second on every core at once with auth-service's parameters (OWASP's
/// m=19456 KiB, t=2, p=1): the best case, each thread reusing one preallocated memory block.
pub fn raw_argon2(duration: Duration) -> Result<f64> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let params = Params::new(19_456, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let (stop, done, params) = (stop.clone(), done.clone(), params.clone());
            std::thread::spawn(move || {
                let mut memory = vec![Block::default(); params.block_count()];
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut out = [0u8; 32];
                while !stop.load(Ordering::Relaxed) {
                    if argon2
                        .hash_password_into_with_memory(
                            b"correct horse battery",
                            b"sixteen byte salt",
                            &mut out,
                            &mut memory,
                        )
                        .is_err()
                    {
                        break;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let (before, started) = (done.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(duration);
    let rate = (done.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Against the machine's own PostgreSQL as `make setup` leaves it: Debian's default asks for a
    // password on TCP, so this failed while the password was not passed.
    #[test]
    fn pgbench_measures_the_machines_postgresql_with_the_product_login() -> Result<()> {
        let tps = pgbench_select(1, Duration::from_secs(1))?;
        assert!(tps > 0.0, "pgbench -S answered {tps} transactions per second");
        Ok(())
    }
}
