//! Login throughput against the machine's raw argon2 rate, and /readyz latency while logins
//! saturate the hashing pool. Runs against a running auth-service (release build):
//!   make -C auth-service bench            (AUTH_BENCH_URL, default http://127.0.0.1:8081)
//! Targets: logins/s >= 0.9 x (cores / hash time); /readyz p99 < 10 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde_json::json;
use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

const DURATION: Duration = Duration::from_secs(8);
const WARM_UP: Duration = Duration::from_secs(2);
const LOGIN_CONCURRENCY: usize = 16;

/// Hashes per second on every core at once, with the service's parameters: the best case,
/// each thread reusing one preallocated memory block and nothing else running.
fn raw_argon2_rate(cores: usize) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                let params = Params::new(19_456, 2, 1, None).unwrap();
                let mut memory = vec![Block::default(); params.block_count()];
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut out = [0u8; 32];
                while !stop.load(Ordering::Relaxed) {
                    argon2
                        .hash_password_into_with_memory(
                            b"correct horse battery",
                            b"sixteen byte salt",
                            &mut out,
                            &mut memory,
                        )
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let start = (done.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(4));
    let rate = (done.load(Ordering::Relaxed) - start.0) as f64 / start.1.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    rate
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let base = std::env::var("AUTH_BENCH_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".to_owned());
    let client = reqwest::Client::new();
    let email = format!("bench-{}@example.com", uuid::Uuid::now_v7().simple());
    let password = "correct horse battery";
    let signup = client
        .post(format!("{base}/v1/auth/signup"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await;
    assert_eq!(signup.expect("auth-service answers: start it with `make run`").status(), 201);

    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let raw = tokio::task::spawn_blocking(move || raw_argon2_rate(cores)).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..LOGIN_CONCURRENCY {
        let (client, base, email) = (client.clone(), base.clone(), email.clone());
        let (stop, counting, logins, errors) = (stop.clone(), counting.clone(), logins.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = client
                    .post(format!("{base}/v1/auth/login"))
                    .json(&json!({ "email": email, "password": password }))
                    .send()
                    .await;
                let ok = matches!(response, Ok(r) if r.status() == 200);
                if counting.load(Ordering::Relaxed) {
                    if ok { &logins } else { &errors }.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut readyz = Vec::new();
    while started.elapsed() < DURATION {
        let t = Instant::now();
        let response = client.get(format!("{base}/readyz")).send().await;
        if matches!(response, Ok(r) if r.status() == 200) {
            readyz.push(t.elapsed());
        } else {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    counting.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    readyz.sort();

    let login_rate = logins.load(Ordering::Relaxed) as f64 / elapsed;
    let ratio = login_rate / raw;
    let p99 = percentile(&readyz, 0.99);
    println!(
        "auth-service login benchmark ({cores} cores, {LOGIN_CONCURRENCY} concurrent logins, {}s)",
        DURATION.as_secs()
    );
    println!("  raw argon2id (m=19456, t=2, p=1) on {cores} threads: {raw:.1} hashes/s");
    println!("  logins:                 {login_rate:.1}/s  = {ratio:.2} of the raw rate (target >= 0.90)");
    println!(
        "  /readyz under load:     p50 {:.2} ms, p99 {:.2} ms over {} probes (target p99 < 10 ms)",
        percentile(&readyz, 0.5).as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        readyz.len()
    );
    println!("  errors:                 {}", errors.load(Ordering::Relaxed));
    println!(
        "{}",
        json!({ "benchmark": "auth-login", "cores": cores, "raw_argon2_per_s": raw, "logins_per_s": login_rate,
                "ratio": ratio, "readyz_p99_ms": p99.as_secs_f64() * 1000.0, "errors": errors.load(Ordering::Relaxed) })
    );
}
