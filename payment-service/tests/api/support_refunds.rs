//! Support refunds (`POST /v1/admin/payments/{id}/refunds`, issue "Service identity", item 2):
//! an operator's admin token refunds part of any user's payment, once per Idempotency-Key, never
//! more than is left, and the refund names who asked for it. A shopper's token, no token, an
//! unknown payment or a malformed request refunds nothing.
use crate::{
    helpers::{spawn_app, Shopper, TestApp},
    payment_calls::{charge, charge_request, eur, get},
};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A shopper's payment of 10.00 EUR, as cart charged it.
async fn paid(app: &TestApp, shopper: &Shopper) -> String {
    let order = uuid::Uuid::now_v7().to_string();
    charge(app, shopper, charge_request(&order, &order, 1_000, "tok_visa")).await.unwrap().payment_id
}

async fn support_refund(
    app: &TestApp,
    payment_id: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = app.client.post(format!("{}/v1/admin/payments/{payment_id}/refunds", app.address)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

fn refund_of(amount_minor: i64) -> Value {
    json!({ "amount": { "amount_minor": amount_minor, "currency": "EUR" }, "reason": "damaged in transit" })
}

#[tokio::test]
async fn an_operator_refunds_part_of_a_shoppers_payment_once_and_is_named_on_the_refund() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let payment_id = paid(&app, &shopper).await;
    let operator = uuid::Uuid::now_v7().to_string();
    let admin = app.auth_key.token_with(&["customer", "admin"], |c| c["sub"] = json!(operator));

    let first = support_refund(&app, &payment_id, Some(&admin), Some("support-1"), refund_of(400)).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(first["requested_by"], format!("operator:{operator}"));
    assert_eq!(first["amount"], json!({ "amount_minor": 400, "currency": "EUR" }));
    assert_eq!(first["payment_status"], "partially_refunded");
    assert_eq!(first["refunded"]["amount_minor"], 400);

    // The same key replays the first refund: no second one.
    let again: Value =
        support_refund(&app, &payment_id, Some(&admin), Some("support-1"), refund_of(400)).await.json().await.unwrap();
    assert_eq!(again["refund_id"], first["refund_id"]);
    // Never more than is left (600).
    let over = support_refund(&app, &payment_id, Some(&admin), Some("support-2"), refund_of(700)).await;
    assert_eq!(over.status(), StatusCode::CONFLICT);
    assert_eq!(over.json::<Value>().await.unwrap()["error"]["code"], "refund_exceeds_charge");

    // The owner sees the refund on the payment, as the saga's refunds are seen.
    let payment = get(&app, &shopper, &payment_id).await;
    assert_eq!(payment.refunded, eur(400));
}

#[tokio::test]
async fn a_shoppers_token_no_token_or_a_bad_request_refunds_nothing() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let payment_id = paid(&app, &shopper).await;
    let admin = app.auth_key.token(&["customer", "admin"]);

    let own = support_refund(&app, &payment_id, Some(&shopper.token), Some("k1"), refund_of(100)).await;
    assert_eq!(own.status(), StatusCode::FORBIDDEN, "the shopper's own payment, the shopper's own token");
    assert_eq!(own.json::<Value>().await.unwrap()["error"]["code"], "permission_denied");
    let none = support_refund(&app, &payment_id, None, Some("k2"), refund_of(100)).await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers()["www-authenticate"], r#"Bearer realm="shop""#);
    let nobodys = uuid::Uuid::now_v7().to_string();
    let unknown = support_refund(&app, &nobodys, Some(&admin), Some("k3"), refund_of(100)).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let keyless = support_refund(&app, &payment_id, Some(&admin), None, refund_of(100)).await;
    assert_eq!(keyless.status(), StatusCode::BAD_REQUEST);
    for bad in [
        json!({ "amount": { "amount_minor": 0, "currency": "EUR" }, "reason": "x" }),
        json!({ "amount": { "amount_minor": 100, "currency": "EURO" }, "reason": "x" }),
        json!({ "amount": { "amount_minor": 100, "currency": "EUR" }, "reason": "" }),
        json!({ "amount": 100, "reason": "x" }),
        json!({ "amount": { "amount_minor": 100, "currency": "USD" }, "reason": "not the payment's currency" }),
    ] {
        let refused =
            support_refund(&app, &payment_id, Some(&admin), Some(&uuid::Uuid::now_v7().to_string()), bad.clone()).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{bad}: {body}");
    }
    assert_eq!(get(&app, &shopper, &payment_id).await.refunded, eur(0), "nothing refunded");
}

#[tokio::test]
async fn another_operators_key_or_the_owners_key_replays_nothing_to_the_wrong_requester() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let payment_id = paid(&app, &shopper).await;
    let (a, b) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let operator_a = app.auth_key.token_with(&["admin"], |c| c["sub"] = json!(a));
    let operator_b = app.auth_key.token_with(&["admin"], |c| c["sub"] = json!(b));
    let first = support_refund(&app, &payment_id, Some(&operator_a), Some("shared"), refund_of(100)).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let replayed_by_b = support_refund(&app, &payment_id, Some(&operator_b), Some("shared"), refund_of(100)).await;
    assert_eq!(replayed_by_b.status(), StatusCode::CONFLICT, "B does not get A's refund as B's");
    assert_eq!(replayed_by_b.json::<Value>().await.unwrap()["error"]["code"], "idempotency_key_reused");
    assert_eq!(get(&app, &shopper, &payment_id).await.refunded, eur(100), "one refund");
}
