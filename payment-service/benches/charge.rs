//! `Charge` calls per second with the sandbox gateway at 32 concurrent gRPC streams, and p99,
//! against the raw MariaDB rate of writing the same rows (an idempotency key and a payment, in
//! one transaction per charge, at the same concurrency) measured in the same run. Runs against
//! the running platform (auth issues the caller's token): `make bench` at the repository root.
//!   PAYMENT_BENCH_GRPC (default http://127.0.0.1:50054), AUTH_BENCH_URL (http://127.0.0.1:8081),
//!   PAYMENT_BENCH_DATABASE_URL (mysql://payment:payment@127.0.0.1:3306/payment)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel_async::{AsyncConnection, AsyncMysqlConnection};
use payment_service::proto::shop::{
    common::v1::Money,
    payment::v1::{payment_service_client::PaymentServiceClient, ChargeRequest, OrderLine, PaymentStatus},
};
use serde_json::{json, Value};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

const STREAMS: usize = 32;
const WARM_UP: Duration = Duration::from_secs(2);
const DURATION: Duration = Duration::from_secs(10);

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
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

/// A user's access token from the running auth-service.
async fn access_token() -> String {
    let auth = env("AUTH_BENCH_URL", "http://127.0.0.1:8081");
    let client = reqwest::Client::new();
    let credentials = json!({ "email": format!("bench-{}@example.com", uuid::Uuid::now_v7().simple()),
                              "password": "correct horse battery" });
    let signup = client.post(format!("{auth}/v1/auth/signup")).json(&credentials).send().await;
    assert_eq!(signup.expect("auth-service answers: start the platform with `make run`").status(), 201);
    let login: Value =
        client.post(format!("{auth}/v1/auth/login")).json(&credentials).send().await.unwrap().json().await.unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

fn charge_request(key: String) -> ChargeRequest {
    let money = |amount_minor| Some(Money { amount_minor, currency: "EUR".to_owned() });
    ChargeRequest {
        order_id: key.clone(),
        idempotency_key: key,
        amount: money(2500),
        payment_token: "tok_visa".to_owned(),
        lines: vec![OrderLine {
            product_id: "0196f3c0-0000-7000-8000-000000000001".to_owned(),
            name: "Enamel mug".to_owned(),
            quantity: 2,
            unit_price: money(1250),
        }],
    }
}

/// Runs `op` on `STREAMS` tasks for the warm-up and `DURATION`; returns the sorted latencies
/// of successful calls in the measured window, the errors, and the window's length.
async fn drive<F, Fut>(op: F) -> (Vec<Duration>, u64, f64)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..STREAMS {
        let (op, stop, counting) = (op.clone(), stop.clone(), counting.clone());
        workers.push(tokio::spawn(async move {
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
    (latencies, errors, elapsed)
}

/// The same rows a charge writes first, straight into a scratch database with the service's
/// schema: one transaction per charge inserting the idempotency key and the payment.
async fn raw_insert_rate() -> f64 {
    // Here only: its `load` would shadow the atomics' `load` elsewhere.
    use diesel_async::RunQueryDsl;
    let admin = env("PAYMENT_BENCH_DATABASE_URL", "mysql://payment:payment@127.0.0.1:3306/payment");
    // A payment_test_* name: the login may create those, and stale ones are dropped by the tests.
    let name = format!("payment_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = AsyncMysqlConnection::establish(&admin).await.unwrap();
    diesel::sql_query(format!("CREATE DATABASE `{name}`")).execute(&mut conn).await.unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    payment_service::db::run_migrations(&secrecy::SecretString::from(url.clone())).await.unwrap();
    let url = Arc::new(url);
    let conns: Vec<_> = connect_all(&url).await;
    let conns = Arc::new(conns);
    let (latencies, errors, elapsed) = drive(move |worker, n| {
        let conns = conns.clone();
        async move {
            let id = uuid::Uuid::now_v7().to_string();
            let mut conn = conns[worker].lock().await;
            let key = format!(
                "INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, state, resource_id, locked_until, expires_at) \
                 VALUES ('{id}', 'k{worker}-{n}', REPEAT('a', 64), 'in_progress', '{id}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
            );
            let payment = format!(
                "INSERT INTO payments (id, user_id, order_id, amount_minor, currency, status, gateway, payment_token, order_lines, next_attempt_at, created_at, updated_at) \
                 VALUES ('{id}', '{id}', 'o{worker}-{n}', 2500, 'EUR', 'pending', 'sandbox', 'tok_visa', '[{{\"product_id\":\"p\",\"name\":\"Enamel mug\",\"quantity\":2,\"unit_price_minor\":1250,\"currency\":\"EUR\"}}]', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
            );
            let result: Result<(), diesel::result::Error> = async {
                diesel::sql_query("BEGIN").execute(&mut *conn).await?;
                diesel::sql_query(key).execute(&mut *conn).await?;
                diesel::sql_query(payment).execute(&mut *conn).await?;
                diesel::sql_query("COMMIT").execute(&mut *conn).await?;
                Ok(())
            }
            .await;
            result.is_ok()
        }
    })
    .await;
    let _ = diesel::sql_query(format!("DROP DATABASE `{name}`")).execute(&mut conn).await;
    assert_eq!(errors, 0, "raw inserts failed");
    latencies.len() as f64 / elapsed
}

async fn connect_all(url: &str) -> Vec<tokio::sync::Mutex<AsyncMysqlConnection>> {
    let mut conns = Vec::new();
    for _ in 0..STREAMS {
        conns.push(tokio::sync::Mutex::new(AsyncMysqlConnection::establish(url).await.unwrap()));
    }
    conns
}

#[tokio::main]
async fn main() {
    let token = access_token().await;
    let endpoint = env("PAYMENT_BENCH_GRPC", "http://127.0.0.1:50054");
    let channel = tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.unwrap();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let (latencies, errors, elapsed) = drive(move |worker, n| {
        let (mut client, token, run) = (PaymentServiceClient::new(channel.clone()), token.clone(), run.clone());
        async move {
            let mut request = tonic::Request::new(charge_request(format!("{run}-{worker}-{n}")));
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
            match client.charge(request).await {
                Ok(response) => {
                    response.into_inner().payment.is_some_and(|p| p.status == PaymentStatus::Succeeded as i32)
                }
                Err(_) => false,
            }
        }
    })
    .await;
    let charges_per_s = latencies.len() as f64 / elapsed;
    let raw = raw_insert_rate().await;
    let ratio = charges_per_s / raw;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "payment-service Charge benchmark ({cores} cores, {STREAMS} concurrent streams, {}s, sandbox gateway)",
        DURATION.as_secs()
    );
    println!("  raw MariaDB (key + payment per transaction): {raw:.0}/s");
    println!("  Charge:                  {charges_per_s:.0}/s = {ratio:.2} of the raw insert rate");
    println!(
        "  latency:                 p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.9)),
        ms(percentile(&latencies, 0.99))
    );
    println!("  errors:                  {errors}");
    println!(
        "{}",
        json!({ "benchmark": "payment-charge", "cores": cores, "streams": STREAMS, "raw_inserts_per_s": raw,
                "charges_per_s": charges_per_s, "ratio": ratio, "p50_ms": ms(percentile(&latencies, 0.5)),
                "p99_ms": ms(percentile(&latencies, 0.99)), "errors": errors })
    );
}
