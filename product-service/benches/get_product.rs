//! `GET /v1/products/{id}` requests per second and latency at 64 connections, against the
//! ceiling of the database behind it: `pgbench -S` (one primary-key SELECT per transaction)
//! at the same concurrency on the same PostgreSQL, measured in the same run. Runs against a
//! running product-service (release build: `make bench` at the top starts one):
//!   make -C product-service bench        (PRODUCT_BENCH_URL, default http://127.0.0.1:8082)
//! Target: requests/s >= 0.7 x pgbench transactions/s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::{
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

const CONNECTIONS: usize = 64;
const WARM_UP: Duration = Duration::from_secs(2);
const DURATION: Duration = Duration::from_secs(10);
/// pgbench's own database, created on first use (the `product` login may create databases).
const PGBENCH_DATABASE: &str = "product_pgbench";

fn pg_args() -> Vec<String> {
    let host = std::env::var("PGHOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PGPORT").unwrap_or_else(|_| "5432".to_owned());
    let user = std::env::var("PGUSER").unwrap_or_else(|_| "product".to_owned());
    vec!["-h".into(), host, "-p".into(), port, "-U".into(), user]
}

/// pgbench's select-only transactions per second at `clients` connections.
fn pgbench_select_tps(clients: usize) -> f64 {
    let exists = Command::new("psql")
        .args(pg_args())
        .args(["-d", "postgres", "-tAc"])
        .arg(format!("SELECT 1 FROM pg_database WHERE datname = '{PGBENCH_DATABASE}'"))
        .output()
        .expect("psql runs");
    if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
        let created = Command::new("createdb").args(pg_args()).arg(PGBENCH_DATABASE).status().expect("createdb runs");
        assert!(created.success(), "creating {PGBENCH_DATABASE}");
        let init = Command::new("pgbench").args(pg_args()).args(["-i", "-q", "-s", "10", PGBENCH_DATABASE]).status();
        assert!(init.expect("pgbench runs").success(), "pgbench -i");
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).to_string();
    let output = Command::new("pgbench")
        .args(pg_args())
        .args(["-S", "-n", "-c", &clients.to_string(), "-j", &threads, "-T", &DURATION.as_secs().to_string()])
        .arg(PGBENCH_DATABASE)
        .output()
        .expect("pgbench runs");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {text} {}", String::from_utf8_lossy(&output.stderr)))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let base = std::env::var("PRODUCT_BENCH_URL").unwrap_or_else(|_| "http://127.0.0.1:8082".to_owned());
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().unwrap();
    let listing = client.get(format!("{base}/v1/products?page_size=100")).send().await;
    let listing: Value = listing.expect("product-service answers: start it with `make run`").json().await.unwrap();
    let ids: Arc<Vec<String>> = Arc::new(
        listing["products"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect(),
    );
    assert!(!ids.is_empty(), "the catalogue is empty: `make run` seeds it");

    let pgbench_tps = tokio::task::spawn_blocking(|| pgbench_select_tps(CONNECTIONS)).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..CONNECTIONS {
        let (client, base, ids, stop, counting) =
            (client.clone(), base.clone(), ids.clone(), stop.clone(), counting.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut next) = (Vec::new(), 0u64, worker);
            while !stop.load(Ordering::Relaxed) {
                let url = format!("{base}/v1/products/{}", ids[next % ids.len()]);
                next += 1;
                let started = Instant::now();
                let ok = match client.get(url).send().await {
                    Ok(response) => response.status() == 200 && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if counting.load(Ordering::Relaxed) {
                    if ok {
                        latencies.push(started.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(DURATION).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for worker in workers {
        let (l, e) = worker.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    let rps = latencies.len() as f64 / elapsed;
    let ratio = rps / pgbench_tps;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "product-service GET /v1/products/{{id}} benchmark ({cores} cores, {CONNECTIONS} connections, {}s)",
        DURATION.as_secs()
    );
    println!("  pgbench -S, {CONNECTIONS} clients:   {pgbench_tps:.0} transactions/s");
    println!("  GET /v1/products/{{id}}:    {rps:.0} requests/s = {ratio:.2} of pgbench (target >= 0.70)");
    println!(
        "  latency:                 p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.9)),
        ms(percentile(&latencies, 0.99))
    );
    println!("  errors:                  {errors}");
    println!(
        "{}",
        json!({ "benchmark": "product-get", "cores": cores, "connections": CONNECTIONS, "pgbench_tps": pgbench_tps,
                "requests_per_s": rps, "ratio": ratio, "p50_ms": ms(percentile(&latencies, 0.5)),
                "p99_ms": ms(percentile(&latencies, 0.99)), "errors": errors })
    );
}
