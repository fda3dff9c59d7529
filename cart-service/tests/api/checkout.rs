//! The checkout record against the real Redis (product and payment out of reach, so each
//! attempt stops after reserving would begin): its id derives from the key, it keeps the
//! lines it started with and the expiry it started with (issue "Checkout money invariants",
//! findings 3, 4 and 5).
use crate::helpers::{closed_port, mug_snapshot, spawn_app_with, Shopper, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

async fn checkout(app: &TestApp, shopper: &Shopper, key: &str) -> reqwest::Response {
    app.request(Method::POST, "/v1/cart/checkout", shopper)
        .header("Idempotency-Key", key)
        .json(&json!({ "payment_token": "tok_visa" }))
        .send()
        .await
        .unwrap()
}

async fn record(app: &TestApp, user_id: &str, key: &str) -> (Value, i64) {
    let mut conn = app.redis.connection().await.unwrap();
    let name = format!("cart:checkout:{user_id}:{key}");
    let text: String = redis::cmd("GET").arg(&name).query_async(&mut conn).await.unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(&name).query_async(&mut conn).await.unwrap();
    (serde_json::from_str(&text).unwrap(), ttl)
}

/// Rewrites the checkout record under `key` as another run would, keeping its expiry.
async fn rewrite_record(app: &TestApp, user_id: &str, key: &str, edit: impl FnOnce(&mut Value)) {
    let (mut saved, _) = record(app, user_id, key).await;
    edit(&mut saved);
    let name = format!("cart:checkout:{user_id}:{key}");
    let mut conn = app.redis.connection().await.unwrap();
    let _: () =
        redis::cmd("SET").arg(&name).arg(saved.to_string()).arg("KEEPTTL").query_async(&mut conn).await.unwrap();
}

/// Cart with product and payment out of reach: each checkout attempt stops where reserving
/// would begin.
async fn spawn_app_out_of_reach() -> TestApp {
    let (product_port, payment_port) = (closed_port(), closed_port());
    spawn_app_with(move |s| {
        s.upstream.product_grpc_url = format!("http://127.0.0.1:{product_port}");
        s.upstream.payment_grpc_url = format!("http://127.0.0.1:{payment_port}");
        s.upstream.timeout = Duration::from_millis(300);
    })
    .await
}

#[tokio::test]
async fn a_retried_checkout_resumes_its_own_lines_under_the_same_id_and_expiry() {
    let app = spawn_app_out_of_reach().await;
    let shopper = app.shopper();
    let mug = uuid::Uuid::now_v7().to_string();
    let snapshot = mug_snapshot(&mug);
    app.store().add(&shopper.user_id, &snapshot, 2).await.unwrap();

    let first = checkout(&app, &shopper, "key-1").await;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE, "product is out of reach");
    let (saved, ttl_before) = record(&app, &shopper.user_id, "key-1").await;
    assert_eq!(saved["state"], "retryable");
    assert_eq!(saved["checkout_id"], cart_service::checkout::checkout_id(&shopper.user_id, "key-1"));
    assert_eq!(saved["lines"], json!([[mug, 2]]));

    // The checkout's own reservation would mark the line unavailable (the last units): the
    // retry must resume with the lines it started with, not refuse them and forget the key.
    app.store().mark(&mug, Some(false), None, 2).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let retry = checkout(&app, &shopper, "key-1").await;
    assert_eq!(retry.status(), StatusCode::SERVICE_UNAVAILABLE, "resumed, not 409 lines_unavailable");
    let (saved, ttl_after) = record(&app, &shopper.user_id, "key-1").await;
    assert_eq!(saved["state"], "retryable", "the key still names this checkout");
    assert!(
        ttl_after <= ttl_before - 1000,
        "a retry does not extend the record's life: {ttl_before} ms then {ttl_after} ms"
    );
}

/// A record left "in progress" by a replica that died mid-checkout: without its heartbeat the
/// retry resumes it at once; with the heartbeat (a replica still at work) the retry hears 409.
#[tokio::test]
async fn a_checkout_whose_replica_died_is_resumed_by_its_retry_once_its_heartbeat_stops() {
    let app = spawn_app_out_of_reach().await;
    let shopper = app.shopper();
    let snapshot = mug_snapshot(&uuid::Uuid::now_v7().to_string());
    app.store().add(&shopper.user_id, &snapshot, 1).await.unwrap();
    // What a replica leaves behind when it dies after marking the checkout in progress.
    let first = checkout(&app, &shopper, "key-died").await;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE, "product is out of reach");
    rewrite_record(&app, &shopper.user_id, "key-died", |saved| {
        saved["state"] = json!("in_progress");
        saved["updated_at"] = json!(saved["updated_at"].as_i64().unwrap() - 10);
    })
    .await;
    let alive = format!("cart:checkout-alive:{}:key-died", shopper.user_id);
    let mut conn = app.redis.connection().await.unwrap();

    // A replica still at work beats: the retry is told to wait.
    let _: () = redis::cmd("SET").arg(&alive).arg("1").arg("EX").arg(6).query_async(&mut conn).await.unwrap();
    let busy = checkout(&app, &shopper, "key-died").await;
    assert_eq!(busy.status(), StatusCode::CONFLICT);
    assert_eq!(busy.json::<Value>().await.unwrap()["error"]["code"], "checkout_in_progress");

    // Its beats stop (it died): the retry resumes the checkout at once.
    let _: () = redis::cmd("DEL").arg(&alive).query_async(&mut conn).await.unwrap();
    let resumed = checkout(&app, &shopper, "key-died").await;
    assert_eq!(resumed.status(), StatusCode::SERVICE_UNAVAILABLE, "resumed (and stopped again at product)");
    let (saved, _) = record(&app, &shopper.user_id, "key-died").await;
    assert_eq!(saved["state"], "retryable");
}

/// Cart with product at a port that accepts connections and never answers (nobody accepts
/// from the listener; the kernel completes the handshake): each checkout attempt waits the
/// whole upstream timeout there, so the test can act while it runs.
async fn spawn_app_with_product_silent(timeout: Duration) -> (TestApp, std::net::TcpListener) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (product_port, payment_port) = (silent.local_addr().unwrap().port(), closed_port());
    let app = spawn_app_with(move |s| {
        s.upstream.product_grpc_url = format!("http://127.0.0.1:{product_port}");
        s.upstream.payment_grpc_url = format!("http://127.0.0.1:{payment_port}");
        s.upstream.timeout = timeout;
    })
    .await;
    (app, silent)
}

/// Retries of a checkout left without an answer, arriving together: one resumes it, the others
/// hear it is in progress. Before, each read the record, each marked it as its own and each
/// ran the saga.
#[tokio::test]
async fn retries_arriving_together_resume_a_checkout_once() {
    let (app, _silent) = spawn_app_with_product_silent(Duration::from_millis(1500)).await;
    let shopper = app.shopper();
    app.store().add(&shopper.user_id, &mug_snapshot(&uuid::Uuid::now_v7().to_string()), 1).await.unwrap();
    let first = checkout(&app, &shopper, "key-together").await;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE, "product never answers");
    assert_eq!(record(&app, &shopper.user_id, "key-together").await.0["state"], "retryable");

    let retry = || checkout(&app, &shopper, "key-together");
    let (a, b, c, d, e, f) = tokio::join!(retry(), retry(), retry(), retry(), retry(), retry());
    let mut statuses: Vec<u16> = [a, b, c, d, e, f].iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [409, 409, 409, 409, 409, 503], "one retry resumes (and waits on product), the rest hear 409");
}

/// A run taken over (its replica was thought dead) ends without overwriting the answer of the
/// run that took over. Here the test plays that run: it finishes the checkout declined while
/// the first still waits on product. Before, the first run's "retryable" replaced the 402, and
/// the next retry ran the checkout again.
#[tokio::test]
async fn a_run_taken_over_leaves_the_answer_of_the_run_that_took_over() {
    let (app, _silent) = spawn_app_with_product_silent(Duration::from_millis(1500)).await;
    let shopper = app.shopper();
    app.store().add(&shopper.user_id, &mug_snapshot(&uuid::Uuid::now_v7().to_string()), 1).await.unwrap();
    let declined = json!({ "error": { "code": "payment_declined", "message": "Your card was declined." } });
    let take_over = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rewrite_record(&app, &shopper.user_id, "key-over", |saved| {
            assert_eq!(saved["state"], "in_progress", "the first run holds the record");
            saved["state"] = json!("done");
            saved["status"] = json!(402);
            saved["body"] = declined.clone();
            saved["run"] = json!("the-run-that-took-over");
        })
        .await;
    };
    let (first, ()) = tokio::join!(checkout(&app, &shopper, "key-over"), take_over);
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE, "the first run's own answer");

    let (saved, _) = record(&app, &shopper.user_id, "key-over").await;
    assert_eq!((saved["state"].as_str(), saved["status"].as_u64()), (Some("done"), Some(402)));
    let retry = checkout(&app, &shopper, "key-over").await;
    assert_eq!(retry.status(), StatusCode::PAYMENT_REQUIRED, "the answer of the run that took over");
    assert_eq!(retry.json::<Value>().await.unwrap(), declined);
}

/// A run that reserved nothing leaves the key reusable (a mark, not a deleted record): a run
/// taken over earlier and ending later cannot write its answer back over the mark, and the key
/// can be used again at once (the run's last save removed its heartbeat).
#[tokio::test]
async fn a_run_taken_over_cannot_write_over_a_key_left_reusable() {
    let (app, _silent) = spawn_app_with_product_silent(Duration::from_millis(1500)).await;
    let shopper = app.shopper();
    app.store().add(&shopper.user_id, &mug_snapshot(&uuid::Uuid::now_v7().to_string()), 1).await.unwrap();
    let give_up = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // What the run that took over leaves when product refuses the lines: a reusable mark.
        rewrite_record(&app, &shopper.user_id, "key-reusable", |saved| {
            saved["state"] = json!("reusable");
            saved["lines"] = json!([]);
            saved["run"] = json!("the-run-that-took-over");
        })
        .await;
        let mut conn = app.redis.connection().await.unwrap();
        let alive = format!("cart:checkout-alive:{}:key-reusable", shopper.user_id);
        let _: () = redis::cmd("DEL").arg(&alive).query_async(&mut conn).await.unwrap();
    };
    let (first, ()) = tokio::join!(checkout(&app, &shopper, "key-reusable"), give_up);
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE, "the first run's own answer");
    let (saved, _) = record(&app, &shopper.user_id, "key-reusable").await;
    assert_eq!(saved["state"], "reusable", "the taken-over run did not write over the mark: {saved}");

    // Used again: a new run with the cart as it is (here it stops at product again).
    let again = checkout(&app, &shopper, "key-reusable").await;
    assert_eq!(again.status(), StatusCode::SERVICE_UNAVAILABLE, "run again, not 409 in progress");
    assert_eq!(record(&app, &shopper.user_id, "key-reusable").await.0["state"], "retryable");
}

/// A run whose checkout another run took over stops at its next beat, as if its replica had
/// died, instead of going on with its calls until their deadlines; and it leaves the record and
/// the heartbeat to the run that took over.
#[tokio::test]
async fn a_run_whose_checkout_was_taken_over_stops_at_its_next_beat() {
    // Product would keep the first run waiting 30 s.
    let (app, _silent) = spawn_app_with_product_silent(Duration::from_secs(30)).await;
    let shopper = app.shopper();
    app.store().add(&shopper.user_id, &mug_snapshot(&uuid::Uuid::now_v7().to_string()), 1).await.unwrap();
    let alive = format!("cart:checkout-alive:{}:key-stop", shopper.user_id);
    let take_over = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // What a claim by another run writes: the record with its run, and its heartbeat.
        rewrite_record(&app, &shopper.user_id, "key-stop", |saved| saved["run"] = json!("the-run-that-took-over"))
            .await;
        let mut conn = app.redis.connection().await.unwrap();
        let _: () = redis::cmd("SET")
            .arg(&alive)
            .arg("the-run-that-took-over")
            .arg("EX")
            .arg(6)
            .query_async(&mut conn)
            .await
            .unwrap();
    };
    let stopped = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::join!(checkout(&app, &shopper, "key-stop"), take_over).0
    })
    .await
    .expect("the first run stops at its next beat, long before product's 30 s deadline");
    assert_eq!(stopped.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (saved, _) = record(&app, &shopper.user_id, "key-stop").await;
    assert_eq!(saved["run"], "the-run-that-took-over", "the record stays the other run's: {saved}");
    let mut conn = app.redis.connection().await.unwrap();
    let holder: Option<String> = redis::cmd("GET").arg(&alive).query_async(&mut conn).await.unwrap();
    assert_eq!(holder.as_deref(), Some("the-run-that-took-over"), "its heartbeat is left alone");
}

/// A token whose session auth revoked (its `VerifyToken` refuses it), still valid by its
/// signature and expiry here: the checkout is refused before anything is recorded or reserved.
#[tokio::test]
async fn a_checkout_with_a_session_auth_revoked_is_401_and_starts_nothing() {
    let app = spawn_app_out_of_reach().await;
    let shopper = app.shopper();
    app.store().add(&shopper.user_id, &mug_snapshot(&uuid::Uuid::now_v7().to_string()), 1).await.unwrap();
    app.auth.revoke_user(&shopper.user_id);

    let refused = checkout(&app, &shopper, "key-revoked").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "session_revoked");
    let mut conn = app.redis.connection().await.unwrap();
    let name = format!("cart:checkout:{}:key-revoked", shopper.user_id);
    let exists: i64 = redis::cmd("EXISTS").arg(&name).query_async(&mut conn).await.unwrap();
    assert_eq!(exists, 0, "no checkout was begun");
}

/// auth out of reach: cart cannot confirm the session, so it answers 503 and begins nothing.
#[tokio::test]
async fn a_checkout_auth_cannot_confirm_is_503_and_starts_nothing() {
    let auth_port = closed_port();
    let app = spawn_app_with(move |s| {
        s.upstream.auth_grpc_url = format!("http://127.0.0.1:{auth_port}");
        s.upstream.timeout = Duration::from_millis(300);
    })
    .await;
    let shopper = app.shopper();
    app.store().add(&shopper.user_id, &mug_snapshot(&uuid::Uuid::now_v7().to_string()), 1).await.unwrap();

    let refused = checkout(&app, &shopper, "key-no-auth").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let mut conn = app.redis.connection().await.unwrap();
    let name = format!("cart:checkout:{}:key-no-auth", shopper.user_id);
    let exists: i64 = redis::cmd("EXISTS").arg(&name).query_async(&mut conn).await.unwrap();
    assert_eq!(exists, 0, "no checkout was begun");
}

async fn checkout_with(app: &TestApp, shopper: &Shopper, key: &str, body: Value) -> reqwest::Response {
    app.request(Method::POST, "/v1/cart/checkout", shopper)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_checkout_says_how_it_pays_and_a_paypal_one_takes_no_card_token() {
    let app = spawn_app_out_of_reach().await;
    let shopper = app.shopper();
    let mug = uuid::Uuid::now_v7().to_string();
    app.store().add(&shopper.user_id, &mug_snapshot(&mug), 1).await.unwrap();
    for (body, field) in [
        (json!({ "payment_method": "paypal", "payment_token": "tok_visa" }), "payment_token"),
        (json!({ "payment_method": "card" }), "payment_token"),
        (json!({}), "payment_token"),
        (json!({ "payment_method": "cash" }), "expected `card` or `paypal`"),
    ] {
        let refused = checkout_with(&app, &shopper, "key-method", body.clone()).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = refused.json().await.unwrap();
        assert!(error["error"]["message"].as_str().unwrap_or_default().contains(field), "{body}: {error}");
    }
    // None of those started a checkout: a PayPal one under the key runs (and stops where
    // product is out of reach).
    let paypal = checkout_with(&app, &shopper, "key-method", json!({ "payment_method": "paypal" })).await;
    assert_eq!(paypal.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A card retry under the same key is another request.
    let card = checkout(&app, &shopper, "key-method").await;
    assert_eq!(card.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_checkout_is_found_by_its_id_by_its_shopper_only() {
    let app = spawn_app_out_of_reach().await;
    let shopper = app.shopper();
    let mug = uuid::Uuid::now_v7().to_string();
    app.store().add(&shopper.user_id, &mug_snapshot(&mug), 1).await.unwrap();
    let first = checkout_with(&app, &shopper, "key-state", json!({ "payment_method": "paypal" })).await;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (saved, _) = record(&app, &shopper.user_id, "key-state").await;
    let checkout_id = saved["checkout_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/cart/checkout/{checkout_id}");

    let state: Value = app.request(Method::GET, &path, &shopper).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["status"], "interrupted", "product was out of reach; a retry resumes it: {state}");
    assert_eq!(state["checkout_id"], checkout_id.as_str());

    let stranger = app.shopper();
    let hidden = app.request(Method::GET, &path, &stranger).send().await.unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    let body: Value = hidden.json().await.unwrap();
    assert_eq!(body["error"]["code"], "checkout_not_found");
    for unknown in [uuid::Uuid::now_v7().to_string(), "not-an-id".to_owned()] {
        let missing = app.request(Method::GET, &format!("/v1/cart/checkout/{unknown}"), &shopper).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{unknown}");
    }

    // Ended waiting for the buyer (as a run that reached payment keeps it): while payment does
    // not answer, the kept answer stands, link included.
    let approval_url = "https://www.sandbox.paypal.com/checkoutnow?token=ORDER-1";
    rewrite_record(&app, &shopper.user_id, "key-state", |record| {
        record["state"] = json!("done");
        record["status"] = json!(202);
        record["body"] = json!({
            "checkout_id": checkout_id, "payment_id": uuid::Uuid::now_v7().to_string(), "status": "pending",
            "lines": [], "total": {"amount_minor": 1250, "currency": "EUR"}, "approval_url": approval_url,
        });
    })
    .await;
    let state: Value = app.request(Method::GET, &path, &shopper).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["status"], "requires_approval", "{state}");
    assert_eq!(state["approval_url"], approval_url);
    let again = checkout_with(&app, &shopper, "key-state", json!({ "payment_method": "paypal" })).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let body: Value = again.json().await.unwrap();
    assert_eq!(
        (body["status"].as_str(), body["approval_url"].as_str()),
        (Some("requires_approval"), Some(approval_url))
    );
}
