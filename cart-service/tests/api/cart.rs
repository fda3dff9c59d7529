//! The REST API's guards and bad input, against the real Redis (lines that need
//! product-service are covered by the platform's end-to-end tests).
use crate::helpers::{closed_port, mug_snapshot, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn every_cart_route_needs_a_valid_token() {
    let app = spawn_app().await;
    let refused = app.auth_key.refused_tokens(&["customer"]);
    for (method, path) in [
        (Method::GET, "/v1/cart"),
        (Method::POST, "/v1/cart/items"),
        (Method::PATCH, "/v1/cart/items/0196f3c0-0000-7000-8000-000000000001"),
        (Method::DELETE, "/v1/cart/items/0196f3c0-0000-7000-8000-000000000001"),
        (Method::DELETE, "/v1/cart"),
        (Method::POST, "/v1/cart/checkout"),
    ] {
        let anonymous = app.client.request(method.clone(), format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(code(anonymous).await, "unauthenticated");
        for (case, token) in &refused {
            let response = app.client.request(method.clone(), format!("{}{path}", app.address)).bearer_auth(token);
            assert_eq!(response.send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{method} {path}: {case}");
        }
    }
}

/// Verified tokens are remembered (the signature is not checked again), but never past expiry.
#[tokio::test]
async fn a_remembered_token_is_still_refused_once_it_expires() {
    let app = spawn_app().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let short_lived = app.auth_key.token_with(&["customer"], |c| c["exp"] = json!(now + 1));
    let read = || app.client.get(format!("{}/v1/cart", app.address)).bearer_auth(&short_lived).send();
    assert_eq!(read().await.unwrap().status(), StatusCode::OK);
    assert_eq!(read().await.unwrap().status(), StatusCode::OK, "the remembered token is accepted");
    // Past expiry and the five seconds of clock-skew leeway.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let refused = read().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(refused).await, "unauthenticated");
}

#[tokio::test]
async fn a_cart_is_read_edited_and_cleared_without_calling_anyone() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let empty: Value = app.request(Method::GET, "/v1/cart", &shopper).send().await.unwrap().json().await.unwrap();
    assert_eq!(empty["lines"], json!([]));
    let mug = uuid::Uuid::now_v7().to_string();
    let snapshot = mug_snapshot(&mug);
    app.store().add(&shopper.user_id, &snapshot, 2).await.unwrap();
    let cart: Value = app.request(Method::GET, "/v1/cart", &shopper).send().await.unwrap().json().await.unwrap();
    assert_eq!(cart["total"], json!({ "amount_minor": 2500, "currency": "EUR" }));
    let patched =
        app.request(Method::PATCH, &format!("/v1/cart/items/{mug}"), &shopper).json(&json!({ "quantity": 3 }));
    let patched: Value = patched.send().await.unwrap().json().await.unwrap();
    assert_eq!(patched["lines"][0]["quantity"], 3);
    // The line's id spelled in upper case names the same line (as a keyed add's does).
    let shouted = format!("/v1/cart/items/{}", mug.to_uppercase());
    let patched = app.request(Method::PATCH, &shouted, &shopper).json(&json!({ "quantity": 4 }));
    let patched: Value = patched.send().await.unwrap().json().await.unwrap();
    assert_eq!(patched["lines"][0]["quantity"], 4, "{patched}");
    // Another shopper sees none of it.
    let other = app.shopper();
    let theirs: Value = app.request(Method::GET, "/v1/cart", &other).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["lines"], json!([]));
    let gone = app.request(Method::PATCH, &format!("/v1/cart/items/{mug}"), &other).json(&json!({ "quantity": 1 }));
    assert_eq!(gone.send().await.unwrap().status(), StatusCode::NOT_FOUND);

    let removed = app.request(Method::DELETE, &format!("/v1/cart/items/{mug}"), &shopper).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    let again = app.request(Method::DELETE, &format!("/v1/cart/items/{mug}"), &shopper).send().await.unwrap();
    assert_eq!((again.status(), code(again).await), (StatusCode::NOT_FOUND, "line_not_found".to_owned()));
    app.store().add(&shopper.user_id, &snapshot, 1).await.unwrap();
    let cleared = app.request(Method::DELETE, "/v1/cart", &shopper).send().await.unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(app.store().lines(&shopper.user_id).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_is_a_400_with_a_code_and_changes_nothing() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let id = "0196f3c0-0000-7000-8000-000000000001";
    for body in [
        json!({ "product_id": id, "quantity": 0 }),
        json!({ "product_id": id, "quantity": 1000 }),
        json!({ "product_id": id, "quantity": -1 }),
        json!({ "product_id": "not-a-uuid", "quantity": 1 }),
        json!({ "product_id": id }),
        json!({ "product_id": id, "quantity": 1, "price": 1 }),
    ] {
        let response = app.request(Method::POST, "/v1/cart/items", &shopper).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(response).await, "invalid_request", "{body}");
    }
    let blank_key = app.request(Method::POST, "/v1/cart/items", &shopper).header("Idempotency-Key", " ");
    let blank_key = blank_key.json(&json!({ "product_id": id, "quantity": 1 })).send().await.unwrap();
    assert_eq!(blank_key.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(blank_key).await, "invalid_request");
    let raw = app.request(Method::POST, "/v1/cart/items", &shopper).header("content-type", "application/json");
    assert_eq!(raw.body("{\"product_id\":").send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    let patch = app.request(Method::PATCH, "/v1/cart/items/not-a-uuid", &shopper).json(&json!({ "quantity": 1 }));
    assert_eq!(patch.send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    let checkout =
        app.request(Method::POST, "/v1/cart/checkout", &shopper).json(&json!({ "payment_token": "tok_visa" }));
    let checkout = checkout.send().await.unwrap();
    assert_eq!(checkout.status(), StatusCode::BAD_REQUEST);
    let message: Value = checkout.json().await.unwrap();
    assert!(message["error"]["message"].as_str().unwrap().contains("Idempotency-Key"), "{message}");
    assert!(app.store().lines(&shopper.user_id).await.unwrap().is_empty());
}

/// A repeat of a keyed add is answered from Redis before product is asked: the replica that got
/// the first try died and the proxy sent it on while product is slow or down, and the repeat
/// still answers the cart. The key on another add is refused the same way.
#[tokio::test]
async fn a_repeated_keyed_add_is_answered_without_asking_product() {
    let (product_port, payment_port) = (closed_port(), closed_port());
    let app = spawn_app_with(move |s| {
        s.upstream.product_grpc_url = format!("http://127.0.0.1:{product_port}");
        s.upstream.payment_grpc_url = format!("http://127.0.0.1:{payment_port}");
        s.upstream.timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let shopper = app.shopper();
    let mug = uuid::Uuid::now_v7().to_string();
    let snapshot = mug_snapshot(&mug);
    // The first try, done before its replica died.
    app.store().add_once(&shopper.user_id, &snapshot, 2, Some("add-1")).await.unwrap();

    let add = |quantity: i64| {
        app.request(Method::POST, "/v1/cart/items", &shopper)
            .header("Idempotency-Key", "add-1")
            .json(&json!({ "product_id": mug, "quantity": quantity }))
            .send()
    };
    let repeat = add(2).await.unwrap();
    assert_eq!(repeat.status(), StatusCode::OK, "answered without product");
    // The same add with the id in upper case (a UUID either way) is the same add.
    let shouted = app
        .request(Method::POST, "/v1/cart/items", &shopper)
        .header("Idempotency-Key", "add-1")
        .json(&json!({ "product_id": mug.to_uppercase(), "quantity": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(shouted.status(), StatusCode::OK, "the same add, spelled in upper case");
    let cart: Value = repeat.json().await.unwrap();
    assert_eq!(cart["lines"][0]["quantity"], 2, "{cart}");
    let other = add(3).await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(other).await, "idempotency_key_reused");
    let lines = app.store().lines(&shopper.user_id).await.unwrap();
    assert_eq!(lines.iter().map(|l| l.quantity).collect::<Vec<_>>(), [2], "nothing added again");
}
