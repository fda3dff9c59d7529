//! Cart throughput against the running platform (release build: `make bench` at the root):
//! `GET /v1/cart` and `/healthz` (the framework's own ceiling) at 32 connections, add-to-cart
//! (which asks product-service for the snapshot) at 32, and whole checkouts (introspection,
//! reserve, charge, commit) at 8, each for 10 s after a warm-up, with p50 and p99.
//!   CART_BENCH_URL (http://127.0.0.1:8083), AUTH_BENCH_URL (:8081), PRODUCT_BENCH_URL (:8082),
//!   BENCH_AUTH_BIN (../target/release/auth-service, for `create-admin`)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

const WARM_UP: Duration = Duration::from_secs(2);
const DURATION: Duration = Duration::from_secs(10);
// One shopper per add-to-cart worker: two workers on one cart would race past 99 units.
const SHOPPERS: usize = 32;
const PASSWORD: &str = "correct horse battery staple";

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

struct Result {
    name: &'static str,
    concurrency: usize,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// Runs `op(worker, n)` on `concurrency` tasks; `op` answers whether the call succeeded.
async fn drive<F, Fut>(name: &'static str, concurrency: usize, op: F) -> Result
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (op, stop, counting) = (op.clone(), stop.clone(), counting.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors, mut n) = (Vec::new(), 0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let started = Instant::now();
                    let ok = op(worker, n).await;
                    if counting.load(Ordering::Relaxed) {
                        if ok {
                            latencies.push(started.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
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
    Result {
        name,
        concurrency,
        per_s: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        errors,
    }
}

async fn token(client: &reqwest::Client, auth: &str, email: &str) -> String {
    let login = client.post(format!("{auth}/v1/auth/login")).json(&json!({ "email": email, "password": PASSWORD }));
    let login: Value = login.send().await.unwrap().json().await.unwrap();
    login["access_token"].as_str().expect("login answers a token").to_owned()
}

#[tokio::main]
async fn main() {
    let (cart, auth, product) = (
        env("CART_BENCH_URL", "http://127.0.0.1:8083"),
        env("AUTH_BENCH_URL", "http://127.0.0.1:8081"),
        env("PRODUCT_BENCH_URL", "http://127.0.0.1:8082"),
    );
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let run = uuid::Uuid::now_v7().simple().to_string();

    // An admin (auth's own command) stocks one product generously.
    let admin_email = format!("bench-admin-{run}@example.com");
    let auth_bin = env("BENCH_AUTH_BIN", "../target/release/auth-service");
    let mut child = std::process::Command::new(&auth_bin)
        .args(["create-admin", &admin_email])
        // auth-service refuses AUTH_* variables it does not know.
        .env_remove("AUTH_BENCH_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{auth_bin}: {e}; build the platform with `make bench`"));
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), PASSWORD.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "create-admin failed");
    let admin = token(&client, &auth, &admin_email).await;
    let created: Value = client
        .post(format!("{product}/v1/products"))
        .bearer_auth(&admin)
        .json(&json!({ "sku": format!("BENCH-{run}"), "name": "Bench mug",
                       "price": { "amount_minor": 1250, "currency": "EUR" }, "stock": 1_000_000_000 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let product_id = Arc::new(created["id"].as_str().expect("the product was created").to_owned());

    let mut tokens = Vec::new();
    for n in 0..SHOPPERS {
        let email = format!("bench-{run}-{n}@example.com");
        let signup =
            client.post(format!("{auth}/v1/auth/signup")).json(&json!({ "email": email, "password": PASSWORD }));
        assert_eq!(signup.send().await.unwrap().status(), 201);
        tokens.push(token(&client, &auth, &email).await);
    }
    let tokens = Arc::new(tokens);
    for token in tokens.iter() {
        let add = client.post(format!("{cart}/v1/cart/items")).bearer_auth(token);
        add.json(&json!({ "product_id": *product_id, "quantity": 1 })).send().await.unwrap();
    }

    let mut results = Vec::new();
    let (c, u) = (client.clone(), cart.clone());
    results.push(
        drive("cart /healthz", 32, move |_, _| {
            let (c, u) = (c.clone(), u.clone());
            async move { matches!(c.get(format!("{u}/healthz")).send().await, Ok(r) if r.status() == 200) }
        })
        .await,
    );
    let (c, u, t) = (client.clone(), cart.clone(), tokens.clone());
    results.push(
        drive("GET /v1/cart", 32, move |w, _| {
            let (c, u, t) = (c.clone(), u.clone(), t.clone());
            async move {
                matches!(c.get(format!("{u}/v1/cart")).bearer_auth(&t[w % SHOPPERS]).send().await, Ok(r) if r.status() == 200)
            }
        })
        .await,
    );
    let (c, u, t, p) = (client.clone(), cart.clone(), tokens.clone(), product_id.clone());
    results.push(
        drive("POST /v1/cart/items", 32, move |w, n| {
            let (c, u, t, p) = (c.clone(), u.clone(), t.clone(), p.clone());
            async move {
                let token = &t[w % SHOPPERS];
                // Lines hold at most 99 units: start again now and then (not the measured call's cost).
                if n % 90 == 0 {
                    let _ = c
                        .patch(format!("{u}/v1/cart/items/{p}"))
                        .bearer_auth(token)
                        .json(&json!({ "quantity": 1 }))
                        .send()
                        .await;
                }
                let add = c.post(format!("{u}/v1/cart/items")).bearer_auth(token);
                matches!(add.json(&json!({ "product_id": *p, "quantity": 1 })).send().await, Ok(r) if r.status() == 200)
            }
        })
        .await,
    );
    let (c, u, t, p, run) = (client.clone(), cart.clone(), tokens.clone(), product_id.clone(), run.clone());
    results.push(
        drive("POST /v1/cart/checkout", 8, move |w, n| {
            let (c, u, t, p, run) = (c.clone(), u.clone(), t.clone(), p.clone(), run.clone());
            async move {
                let token = &t[w % SHOPPERS];
                let _ = c
                    .post(format!("{u}/v1/cart/items"))
                    .bearer_auth(token)
                    .json(&json!({ "product_id": *p, "quantity": 1 }))
                    .send()
                    .await;
                let checkout = c
                    .post(format!("{u}/v1/cart/checkout"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", format!("{run}-{w}-{n}"))
                    .json(&json!({ "payment_token": "tok_visa" }));
                matches!(checkout.send().await, Ok(r) if r.status() == 201)
            }
        })
        .await,
    );

    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "cart-service benchmark ({cores} cores, {}s per scenario after {}s warm-up)",
        DURATION.as_secs(),
        WARM_UP.as_secs()
    );
    for r in &results {
        println!(
            "  {:<24} {:>3} conc  {:>8.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
            r.name, r.concurrency, r.per_s, r.p50_ms, r.p99_ms, r.errors
        );
    }
    let ratio = results[1].per_s / results[0].per_s;
    println!("  cart reads = {ratio:.2} of cart's /healthz (target >= 0.50)");
    let json: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({ "scenario": r.name, "concurrency": r.concurrency, "per_s": r.per_s,
                         "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "errors": r.errors })
        })
        .collect();
    println!("{}", json!({ "benchmark": "cart", "cores": cores, "results": json, "reads_to_healthz": ratio }));
}
