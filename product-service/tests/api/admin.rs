//! The admin REST API against real PostgreSQL and the real broker: who may call it, optimistic
//! concurrency, soft delete, stock changes, their events, and the JWKS cache.
use crate::{
    helpers::{spawn_app, spawn_app_with, TestApp},
    tokens::{JwksServer, TestKey},
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

fn new_product(sku: &str) -> Value {
    json!({
        "sku": sku,
        "name": "Enamel mug",
        "description": "Holds 350 ml",
        "price": { "amount_minor": 1250, "currency": "EUR" },
        "attributes": { "colour": "green" },
        "stock": 3,
    })
}

/// Creates a product as admin; returns its id and version.
async fn create(app: &TestApp, sku: &str) -> (Uuid, i64) {
    let response =
        app.with_token(Method::POST, "/v1/products", &app.admin_token()).json(&new_product(sku)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    (body["id"].as_str().unwrap().parse().unwrap(), body["version"].as_i64().unwrap())
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn admin_routes_refuse_missing_and_bad_tokens_with_401_and_customers_with_403() {
    let app = spawn_app().await;
    let (id, _) = create(&app, "GUARD-1").await;
    let routes = [
        (Method::POST, "/v1/products".to_owned(), new_product("GUARD-2")),
        (Method::PATCH, format!("/v1/products/{id}"), json!({ "name": "Stolen", "version": 1 })),
        (Method::DELETE, format!("/v1/products/{id}"), json!(null)),
        (Method::POST, format!("/v1/products/{id}/stock"), json!({ "set": 0 })),
    ];
    let bad_tokens = app.auth_key.refused_tokens(&["admin"]);
    for (method, path, body) in &routes {
        let anonymous = app.client.request(method.clone(), format!("{}{path}", app.address)).json(body).send().await;
        let anonymous = anonymous.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(anonymous.headers().contains_key("www-authenticate"));
        assert_eq!(error_code(anonymous).await, "unauthenticated");
        for (case, token) in &bad_tokens {
            let response = app.with_token(method.clone(), path, token).json(body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}: {case}");
        }
        let customer = app.auth_key.token(&["customer"]);
        let response = app.with_token(method.clone(), path, &customer).json(body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(error_code(response).await, "forbidden");
    }
    // Nothing changed.
    let product: Value = app.get(&format!("/v1/products/{id}")).await.json().await.unwrap();
    assert_eq!((product["name"].as_str(), product["version"].as_i64()), (Some("Enamel mug"), Some(1)));
    let list: Value = app.get("/v1/products").await.json().await.unwrap();
    assert_eq!(list["products"].as_array().unwrap().len(), 1);
}

/// An admin token of a session auth has revoked is refused at once, not when it expires; when
/// auth cannot say, the change waits (503) rather than trusting the token.
#[tokio::test]
async fn an_admin_token_of_a_revoked_session_is_refused_and_an_unconfirmed_one_waits() {
    let app = spawn_app().await;
    let (id, _) = create(&app, "REVOKED-1").await;
    let sid = uuid::Uuid::now_v7().to_string();
    let admin = app.auth_key.token_with(&["admin"], |c| c["sid"] = json!(sid));
    let stock = format!("/v1/products/{id}/stock");
    let set = |n: i64| app.with_token(Method::POST, &stock, &admin).json(&json!({ "set": n })).send();
    assert_eq!(set(7).await.unwrap().status(), StatusCode::OK);

    app.jwks.fail_session_check(true);
    let unconfirmed = set(8).await.unwrap();
    assert_eq!(unconfirmed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(unconfirmed.headers().contains_key("retry-after"));
    app.jwks.fail_session_check(false);

    app.jwks.revoke(&sid);
    let refused = set(9).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(refused).await, "unauthenticated");
    let on_hand = format!("SELECT on_hand AS n FROM products WHERE id = '{id}'");
    assert_eq!(crate::helpers::count(&app.database_url, &on_hand).await, 7, "only the confirmed change applied");
}

/// auth refusing product itself (a certificate auth does not answer: here cart's, presented by
/// mistake) is auth unable to say, not the admin's session ended: 503, and nothing is created.
#[tokio::test]
async fn auth_refusing_products_own_identity_is_503_and_changes_nothing() {
    let app = spawn_app_with(|s| s.tls.dir = crate::pki::PKI.dir("cart-service")).await;
    let response =
        app.with_token(Method::POST, "/v1/products", &app.admin_token()).json(&new_product("WRONG-ID-1")).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "not 401: the admin did nothing wrong");
    let list: Value = app.get("/v1/products").await.json().await.unwrap();
    assert_eq!(list["products"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn an_admin_creates_a_product_that_the_catalogue_then_serves_and_the_sku_stays_unique() {
    let app = spawn_app().await;
    let response =
        app.with_token(Method::POST, "/v1/products", &app.admin_token()).json(&new_product("MUG-1")).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["on_hand"], 3);
    let public: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(public["sku"], "MUG-1");
    assert_eq!(public["price"], json!({ "amount_minor": 1250, "currency": "EUR" }));
    assert_eq!(public["available"], 3);
    assert_eq!(public["attributes"], json!({ "colour": "green" }));

    let again = app.with_token(Method::POST, "/v1/products", &app.admin_token()).json(&new_product("MUG-1")).send();
    let again = again.await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(again).await, "sku_taken");

    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.event_types_of(id, 1).await, ["shop.events.v1.ProductCreated"]);
}

#[tokio::test]
async fn updates_need_the_current_version_and_a_stale_one_gets_412() {
    let app = spawn_app().await;
    let (id, version) = create(&app, "MUG-2").await;
    let path = format!("/v1/products/{id}");
    let admin = app.admin_token();

    let without = app.with_token(Method::PATCH, &path, &admin).json(&json!({ "name": "Blind" })).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(error_code(without).await, "precondition_required");

    let first = app
        .with_token(Method::PATCH, &path, &admin)
        .header("If-Match", format!("\"{version}\""))
        .json(&json!({ "price": { "amount_minor": 990, "currency": "EUR" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["etag"], "\"2\"");

    // A second admin who read version 1 loses, and is told the current version.
    let stale = app
        .with_token(Method::PATCH, &path, &admin)
        .header("If-Match", format!("\"{version}\""))
        .json(&json!({ "name": "Overwrite" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["error"]["code"], "version_mismatch");
    assert!(body["error"]["message"].as_str().unwrap().contains("version 2"));
    // The body's version works like If-Match.
    let stale = app.with_token(Method::PATCH, &path, &admin).json(&json!({ "name": "X", "version": 1 })).send().await;
    assert_eq!(stale.unwrap().status(), StatusCode::PRECONDITION_FAILED);

    // A description-only change is not an event consumers need; a name change is.
    let quiet =
        app.with_token(Method::PATCH, &path, &admin).json(&json!({ "description": "New", "version": 2 })).send();
    assert_eq!(quiet.await.unwrap().status(), StatusCode::OK);
    let renamed = app.with_token(Method::PATCH, &path, &admin).json(&json!({ "name": "Tin mug", "version": 3 })).send();
    let renamed: Value = renamed.await.unwrap().json().await.unwrap();
    assert_eq!((renamed["name"].as_str(), renamed["version"].as_i64()), (Some("Tin mug"), Some(4)));
    assert_eq!(renamed["price"]["amount_minor"], 990);
    assert_eq!(renamed["description"], "New");

    let events = app.event_types_of(id, 3).await;
    assert_eq!(
        events,
        ["shop.events.v1.ProductCreated", "shop.events.v1.ProductUpdated", "shop.events.v1.ProductUpdated"]
    );
}

#[tokio::test]
async fn a_deleted_product_leaves_the_catalogue_and_cannot_be_reserved_or_deleted_again() {
    use product_service::proto::shop::product::v1::{
        product_service_client::ProductServiceClient, ReservationLine, ReserveStockRequest,
    };
    let app = spawn_app().await;
    let (id, _) = create(&app, "MUG-3").await;
    let path = format!("/v1/products/{id}");
    // Read, and so cached, before the delete: the listing must not go on serving it after.
    let listed: Value = app.get("/v1/products").await.json().await.unwrap();
    assert_eq!(listed["products"].as_array().unwrap().len(), 1, "{listed}");
    let stale = app.with_token(Method::DELETE, &path, &app.admin_token()).header("If-Match", "\"7\"").send().await;
    assert_eq!(stale.unwrap().status(), StatusCode::PRECONDITION_FAILED);
    let deleted = app.with_token(Method::DELETE, &path, &app.admin_token()).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
    let list: Value = app.get("/v1/products").await.json().await.unwrap();
    assert!(list["products"].as_array().unwrap().is_empty());
    let mut grpc = ProductServiceClient::new(app.grpc_channel().await);
    let reserve = ReserveStockRequest {
        reservation_id: "after-delete".to_owned(),
        lines: vec![ReservationLine { product_id: id.to_string(), quantity: 1 }],
    };
    assert_eq!(grpc.reserve_stock(reserve).await.unwrap_err().code(), tonic::Code::NotFound);
    let again = app.with_token(Method::DELETE, &path, &app.admin_token()).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // Consumers (carts) learn the product is no longer sold.
    assert_eq!(app.event_types_of(id, 2).await, ["shop.events.v1.ProductCreated", "shop.events.v1.ProductUpdated"]);
}

#[tokio::test]
async fn stock_can_be_set_and_adjusted_but_never_below_what_is_reserved() {
    use product_service::proto::shop::product::v1::{
        product_service_client::ProductServiceClient, ReservationLine, ReserveStockRequest,
    };
    let app = spawn_app().await;
    let (id, _) = create(&app, "MUG-4").await;
    let path = format!("/v1/products/{id}/stock");
    let admin = app.admin_token();
    let stock = |body: Value| app.with_token(Method::POST, &path, &admin).json(&body).send();

    let zero: Value = stock(json!({ "set": 0 })).await.unwrap().json().await.unwrap();
    assert_eq!((zero["on_hand"].as_i64(), zero["available"].as_i64()), (Some(0), Some(0)));
    let delivered: Value = stock(json!({ "adjust": 5 })).await.unwrap().json().await.unwrap();
    assert_eq!(delivered["available"], 5);

    let mut grpc = ProductServiceClient::new(app.grpc_channel().await);
    let reserve = ReserveStockRequest {
        reservation_id: "held".to_owned(),
        lines: vec![ReservationLine { product_id: id.to_string(), quantity: 2 }],
    };
    grpc.reserve_stock(reserve).await.unwrap();
    let below = stock(json!({ "set": 1 })).await.unwrap();
    assert_eq!(below.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(below).await, "stock_below_reserved");
    let below = stock(json!({ "adjust": -4 })).await.unwrap();
    assert_eq!(below.status(), StatusCode::CONFLICT);
    let down: Value = stock(json!({ "adjust": -3 })).await.unwrap().json().await.unwrap();
    assert_eq!(
        (down["on_hand"].as_i64(), down["reserved"].as_i64(), down["available"].as_i64()),
        (Some(2), Some(2), Some(0))
    );

    let stale = app.with_token(Method::POST, &path, &admin).header("If-Match", "\"1\"").json(&json!({ "set": 9 }));
    assert_eq!(stale.send().await.unwrap().status(), StatusCode::PRECONDITION_FAILED);

    let events = app.event_types_of(id, 8).await;
    let events: Vec<&str> = events.iter().map(|e| e.trim_start_matches("shop.events.v1.")).collect();
    assert_eq!(
        events,
        [
            "ProductCreated",
            "StockChanged",
            "ProductOutOfStock",
            "StockChanged",
            "ProductBackInStock",
            "StockChanged",
            "StockChanged",
            "ProductOutOfStock"
        ]
    );
}

/// Every change of stock on hand lands in the ledger with its reason, in its transaction:
/// the initial stock, admin adjustments, sales by committed reservations, and anything else
/// as `unexplained` (which the consistency audit reports).
#[tokio::test]
async fn the_stock_ledger_explains_every_change_of_stock_on_hand() {
    use product_service::proto::shop::product::v1::{
        product_service_client::ProductServiceClient, CommitReservationRequest, ReservationLine, ReserveStockRequest,
    };
    let app = spawn_app().await;
    let (id, _) = create(&app, "LEDGER-1").await;
    let admin = app.admin_token();
    let path = format!("/v1/products/{id}/stock");
    let stock = |body: Value| app.with_token(Method::POST, &path, &admin).json(&body).send();
    assert_eq!(stock(json!({ "set": 10 })).await.unwrap().status(), StatusCode::OK);
    assert_eq!(stock(json!({ "adjust": -1 })).await.unwrap().status(), StatusCode::OK);
    assert_eq!(stock(json!({ "set": 9 })).await.unwrap().status(), StatusCode::OK, "no change, no row");
    let mut grpc = ProductServiceClient::new(app.grpc_channel().await);
    let reservation_id = Uuid::now_v7().to_string();
    let line = ReservationLine { product_id: id.to_string(), quantity: 2 };
    let reserved = grpc
        .reserve_stock(ReserveStockRequest { reservation_id: reservation_id.clone(), lines: vec![line] })
        .await
        .unwrap()
        .into_inner()
        .reservation
        .unwrap();
    grpc.commit_reservation(CommitReservationRequest { reservation_id, paid: reserved.total }).await.unwrap();
    let manual = format!("UPDATE products SET on_hand = on_hand + 5 WHERE id = '{id}'");
    crate::helpers::execute(&app.database_url, &manual).await;

    let ledger = format!(
        "SELECT count(*)::bigint AS n FROM stock_movements WHERE product_id = '{id}' AND (reason, delta, on_hand) IN \
         (('initial', 3, 3), ('adjustment', 7, 10), ('adjustment', -1, 9), ('sale', -2, 7), ('unexplained', 5, 12))"
    );
    assert_eq!(crate::helpers::count(&app.database_url, &ledger).await, 5);
    let all = format!("SELECT count(*)::bigint AS n FROM stock_movements WHERE product_id = '{id}'");
    assert_eq!(crate::helpers::count(&app.database_url, &all).await, 5, "one row per change, none for reservations");
    let sum = format!("SELECT sum(delta)::bigint AS n FROM stock_movements WHERE product_id = '{id}'");
    assert_eq!(crate::helpers::count(&app.database_url, &sum).await, 12, "the ledger adds up to the stock on hand");
}

#[tokio::test]
async fn bad_admin_input_is_a_400_with_a_code_and_writes_nothing() {
    let app = spawn_app().await;
    let (id, _) = create(&app, "MUG-5").await;
    let admin = app.admin_token();
    let post = |path: String, body: Value| app.with_token(Method::POST, &path, &admin).json(&body).send();
    let mut bad_creates = Vec::new();
    for (field, value) in [
        ("price", json!({ "amount_minor": -1, "currency": "EUR" })),
        ("price", json!({ "amount_minor": 100, "currency": "EUO" })),
        ("price", json!({ "amount_minor": 100, "currency": "eur" })),
        ("price", json!({ "amount_minor": "ten", "currency": "EUR" })),
        ("sku", json!("has spaces")),
        ("name", json!("")),
        ("stock", json!(-5)),
        ("attributes", json!([1, 2])),
        ("attributes", json!({ "colour": "a\u{0}b" })),
        ("description", json!("a\u{0}b")),
        ("category_id", json!(Uuid::now_v7())),
        ("category_id", json!("not-a-uuid")),
        ("surprise", json!(true)),
    ] {
        let mut body = new_product("MUG-BAD");
        body[field] = value.clone();
        bad_creates.push((field, value, body));
    }
    for (field, value, body) in bad_creates {
        let response = post("/v1/products".to_owned(), body).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{field} = {value}");
        assert_eq!(error_code(response).await, "invalid_request", "{field} = {value}");
    }
    let raw = app
        .with_token(Method::POST, "/v1/products", &admin)
        .header("content-type", "application/json")
        .body("{\"sku\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    for body in [json!({ "set": 1, "adjust": 1 }), json!({}), json!({ "adjust": 0 }), json!({ "set": -1 })] {
        let response = post(format!("/v1/products/{id}/stock"), body.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let response = post("/v1/products/not-a-uuid/stock".to_owned(), json!({ "set": 1 })).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = post(format!("/v1/products/{}/stock", Uuid::now_v7()), json!({ "set": 1 })).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let patch = app
        .with_token(Method::PATCH, &format!("/v1/products/{id}"), &admin)
        .header("If-Match", "version one")
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::BAD_REQUEST);

    let list: Value = app.get("/v1/products").await.json().await.unwrap();
    assert_eq!(list["products"].as_array().unwrap().len(), 1, "only the good product exists");
    let product: Value = app.get(&format!("/v1/products/{id}")).await.json().await.unwrap();
    assert_eq!(product["version"], 1, "nothing changed it");
}

#[tokio::test]
async fn auths_keys_are_cached_refetched_for_a_new_key_id_and_required_when_nothing_is_cached() {
    let app = spawn_app().await;
    let (id, _) = create(&app, "MUG-6").await;
    let path = format!("/v1/products/{id}/stock");
    let adjust = |token: String| app.with_token(Method::POST, &path, &token).json(&json!({ "adjust": 1 })).send();
    assert_eq!(adjust(app.admin_token()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.jwks.fetches(), 1, "the first token fetched the keys, the second used the cache");

    // auth rotates to a new key: the first token with its kid fetches the keys again.
    let rotated = TestKey::generate("test-key-2");
    app.jwks.serve(&[&rotated, &app.auth_key]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(adjust(rotated.token(&["admin"])).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.jwks.fetches(), 2);
    // Made-up key ids cannot make it fetch more than once a second.
    let forger = TestKey::generate("made-up");
    for _ in 0..5 {
        assert_eq!(adjust(forger.token(&["admin"])).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    assert!(app.jwks.fetches() <= 3, "{} fetches", app.jwks.fetches());

    // auth down: the cached keys go on working.
    app.jwks.fail(true);
    assert_eq!(adjust(app.admin_token()).await.unwrap().status(), StatusCode::OK);

    // A replica that never reached auth cannot verify anything: 503, not 401.
    let down = JwksServer::start(&[]);
    down.fail(true);
    let cold = spawn_app_with(|s| s.auth.jwks_url = down.url.clone()).await;
    let response = cold.with_token(Method::POST, "/v1/products", &cold.admin_token()).json(&new_product("M")).send();
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
}
