//! PayPal's approval flow through the service: a PayPal charge creates an order and waits for
//! the buyer; a verified approval webhook (or the reconciler's look-up) captures it while the
//! order's stock is held, and never after the reservation was released; PayPal's webhooks are
//! believed only after PayPal's verification call. Against real MariaDB, the real broker, the
//! local stand-in of PayPal's API, and a stand-in of product's `GetReservation` (a peer's API,
//! like the auth stand-in of tokens.rs), whose answer each test sets.
use crate::{
    helpers::{authed, eventually, publish_release, released_envelope, spawn_app_with, Shopper, TestApp},
    payment_calls::{charge_request, eur, get, status},
    paypal_mock::{PayPalMock, CLIENT_ID, CLIENT_SECRET, GOOD_SIGNATURE, WEBHOOK_ID},
};
use payment_service::{
    configuration::PayPalSettings,
    proto::shop::{
        payment::v1::{ChargeRequest, Payment, PaymentMethod, PaymentStatus, RefundRequest},
        product::v1::{
            product_service_server::{ProductService, ProductServiceServer},
            BatchGetProductsRequest, BatchGetProductsResponse, CommitReservationRequest, CommitReservationResponse,
            GetProductRequest, GetProductResponse, GetReservationRequest, GetReservationResponse,
            ReleaseReservationRequest, ReleaseReservationResponse, Reservation, ReservationState, ReserveStockRequest,
            ReserveStockResponse,
        },
    },
};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tonic::{Code, Request, Response, Status};

/// product's reservations as the stand-in answers them: the state of each order id set.
#[derive(Clone, Default)]
struct Reservations(Arc<Mutex<HashMap<String, ReservationState>>>);

impl Reservations {
    fn set(&self, order_id: &str, state: ReservationState) {
        self.0.lock().unwrap().insert(order_id.to_owned(), state);
    }
}

#[tonic::async_trait]
impl ProductService for Reservations {
    async fn get_reservation(
        &self,
        request: Request<GetReservationRequest>,
    ) -> Result<Response<GetReservationResponse>, Status> {
        let id = request.into_inner().reservation_id;
        let state = self.0.lock().unwrap().get(&id).copied().ok_or_else(|| Status::not_found("no reservation"))?;
        let reservation = Reservation { reservation_id: id, state: state as i32, ..Default::default() };
        Ok(Response::new(GetReservationResponse { reservation: Some(reservation) }))
    }
    async fn get_product(&self, _: Request<GetProductRequest>) -> Result<Response<GetProductResponse>, Status> {
        Err(Status::unimplemented("stand-in"))
    }
    async fn batch_get_products(
        &self,
        _: Request<BatchGetProductsRequest>,
    ) -> Result<Response<BatchGetProductsResponse>, Status> {
        Err(Status::unimplemented("stand-in"))
    }
    async fn reserve_stock(&self, _: Request<ReserveStockRequest>) -> Result<Response<ReserveStockResponse>, Status> {
        Err(Status::unimplemented("stand-in"))
    }
    async fn commit_reservation(
        &self,
        _: Request<CommitReservationRequest>,
    ) -> Result<Response<CommitReservationResponse>, Status> {
        Err(Status::unimplemented("stand-in"))
    }
    async fn release_reservation(
        &self,
        _: Request<ReleaseReservationRequest>,
    ) -> Result<Response<ReleaseReservationResponse>, Status> {
        Err(Status::unimplemented("stand-in"))
    }
}

/// Serves the stand-in as product-service does (mutual TLS); its URL.
fn serve_product(reservations: Reservations) -> String {
    crate::helpers::serve_as("product-service", tonic::service::Routes::new(ProductServiceServer::new(reservations)))
}

struct World {
    app: TestApp,
    paypal: PayPalMock,
    product: Reservations,
    shopper: Shopper,
}

async fn world() -> World {
    let paypal = PayPalMock::start();
    let product = Reservations::default();
    let product_url = serve_product(product.clone());
    let base = paypal.base_url.clone();
    let app = spawn_app_with(move |s| {
        s.gateway.timeout = Duration::from_secs(5);
        s.sweep.product_grpc_url = product_url;
        s.gateway.paypal = Some(PayPalSettings {
            api_base: base,
            client_id: CLIENT_ID.to_owned(),
            client_secret: secrecy::SecretString::from(CLIENT_SECRET),
            webhook_id: Some(WEBHOOK_ID.to_owned()),
            return_url: "https://shop.example/checkout/{order_id}/approved".to_owned(),
            cancel_url: "https://shop.example/checkout/{order_id}/cancelled".to_owned(),
        });
    })
    .await;
    let shopper = app.shopper();
    World { app, paypal, product, shopper }
}

fn paypal_request(key: &str, order_id: &str, amount_minor: i64) -> ChargeRequest {
    ChargeRequest { payment_method: PaymentMethod::Paypal as i32, ..charge_request(key, order_id, amount_minor, "") }
}

async fn charge_paypal(w: &World, key: &str, amount_minor: i64) -> Payment {
    let request = paypal_request(key, &format!("order-{key}"), amount_minor);
    w.app.payments().await.charge(authed(request, &w.shopper.token)).await.unwrap().into_inner().payment.unwrap()
}

/// The order id PayPal's approval link names (`...?token=<order id>`).
fn order_of(payment: &Payment) -> String {
    payment.approval_url.rsplit_once("token=").map(|(_, id)| id.to_owned()).expect("an approval link")
}

/// Posts a PayPal event with the given transmission signature; the status and the body.
async fn paypal_webhook(app: &TestApp, event: &Value, signature: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/v1/webhooks/paypal", app.address))
        .header("PAYPAL-AUTH-ALGO", "SHA256withRSA")
        .header("PAYPAL-CERT-URL", "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-TEST")
        .header("PAYPAL-TRANSMISSION-ID", uuid::Uuid::now_v7().to_string())
        .header("PAYPAL-TRANSMISSION-SIG", signature)
        .header("PAYPAL-TRANSMISSION-TIME", chrono::Utc::now().to_rfc3339())
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

fn approved_event(order_id: &str) -> Value {
    json!({
        "id": format!("WH-{}", uuid::Uuid::now_v7().simple()),
        "event_type": "CHECKOUT.ORDER.APPROVED",
        "resource": {"id": order_id, "status": "APPROVED"},
    })
}

/// Polls the payment until `done` holds, for up to `seconds`; the payment then.
async fn until(w: &World, payment_id: &str, seconds: u64, done: impl Fn(&Payment) -> bool) -> Payment {
    for _ in 0..seconds * 10 {
        let payment = get(&w.app, &w.shopper, payment_id).await;
        if done(&payment) {
            return payment;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("payment {payment_id} did not get there within {seconds} s");
}

/// Polls the payment until it is no longer pending, for up to `seconds`.
async fn settled(w: &World, payment_id: &str, seconds: u64) -> Payment {
    until(w, payment_id, seconds, |p| status(p) != PaymentStatus::Pending).await
}

#[tokio::test]
async fn a_paypal_charge_waits_for_the_buyer_and_is_captured_once_approved_while_the_stock_is_held() {
    let w = world().await;
    let pending = charge_paypal(&w, "pp-1", 2500).await;
    assert_eq!(status(&pending), PaymentStatus::Pending);
    assert_eq!(pending.payment_method, PaymentMethod::Paypal as i32);
    assert_eq!(pending.gateway, "paypal");
    let order_id = order_of(&pending);
    assert_eq!(pending.gateway_reference, order_id);
    assert_eq!(w.paypal.created_amounts(), vec![("EUR".to_owned(), "25.00".to_owned())]);
    w.product.set("order-pp-1", ReservationState::Reserved);

    // The reconciler looks at the order meanwhile, and captures nothing the buyer did not approve.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(w.paypal.calls(|c| c == format!("GET /v2/checkout/orders/{order_id}")) >= 1, "the order is looked at");
    assert_eq!(w.paypal.captures(), 0);
    assert_eq!(status(&get(&w.app, &w.shopper, &pending.payment_id).await), PaymentStatus::Pending);

    // A repeat of the charge answers the same order.
    let again = charge_paypal(&w, "pp-1", 2500).await;
    assert_eq!(
        (again.payment_id.as_str(), again.approval_url.as_str()),
        (pending.payment_id.as_str(), pending.approval_url.as_str())
    );
    assert_eq!(w.paypal.orders_created(), 1);

    w.paypal.approve(&order_id);
    let (code, body) = paypal_webhook(&w.app, &approved_event(&order_id), GOOD_SIGNATURE).await;
    assert_eq!(code, 200, "{body}");
    let paid = settled(&w, &pending.payment_id, 10).await;
    assert_eq!(status(&paid), PaymentStatus::Succeeded, "{paid:?}");
    assert!(paid.gateway_reference.starts_with("CAPTURE-"), "the capture is the payment's reference: {paid:?}");
    assert!(paid.approval_url.is_empty(), "no approval link once settled");
    assert_eq!(w.paypal.captures(), 1);

    let events = w.app.events_of(&w.shopper.user_id, 1).await;
    assert!(events.iter().any(|e| e.event_type == "shop.events.v1.PaymentSucceeded"), "{events:?}");

    // Refunded through PayPal, by the capture.
    let refund = RefundRequest {
        idempotency_key: "pp-1-refund".to_owned(),
        payment_id: paid.payment_id.clone(),
        amount: eur(1000),
        reason: "requested_by_customer".to_owned(),
    };
    let refunded =
        w.app.payments().await.refund(authed(refund, &w.shopper.token)).await.unwrap().into_inner().payment.unwrap();
    assert_eq!(status(&refunded), PaymentStatus::PartiallyRefunded);
    assert_eq!(w.paypal.refunds_created(), 1);
    let refund_path = format!("POST /v2/payments/captures/{}/refund", refunded.gateway_reference);
    assert_eq!(w.paypal.calls(|c| c == refund_path), 1, "{refund_path}");
}

#[tokio::test]
async fn without_a_webhook_the_reconcilers_look_up_finds_the_approval() {
    let w = world().await;
    let pending = charge_paypal(&w, "pp-poll", 900).await;
    w.product.set("order-pp-poll", ReservationState::Reserved);
    w.paypal.approve(&order_of(&pending));
    // Looked at every 2 s to 32 s while waiting: the first look-ups come within seconds.
    let paid = settled(&w, &pending.payment_id, 20).await;
    assert_eq!(status(&paid), PaymentStatus::Succeeded);
    assert_eq!(w.paypal.captures(), 1);
}

#[tokio::test]
async fn an_approval_after_the_reservation_was_released_is_never_captured() {
    let w = world().await;
    let pending = charge_paypal(&w, "pp-late", 1200).await;
    let order_id = order_of(&pending);
    w.product.set("order-pp-late", ReservationState::Expired);
    publish_release(&w.app, &released_envelope("order-pp-late", "expired"), "order-pp-late").await;

    // The release fails the waiting payment at once: nothing was taken.
    let failed = settled(&w, &pending.payment_id, 15).await;
    assert_eq!(status(&failed), PaymentStatus::Failed);
    assert_eq!(failed.failure_code, "approval_expired");

    // The buyer approves afterwards, and PayPal says so: still nothing is captured.
    w.paypal.approve(&order_id);
    let (code, body) = paypal_webhook(&w.app, &approved_event(&order_id), GOOD_SIGNATURE).await;
    assert_eq!(code, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.paypal.captures(), 0);
    assert_eq!(w.paypal.refunds_created(), 0);
    assert_eq!(status(&get(&w.app, &w.shopper, &pending.payment_id).await), PaymentStatus::Failed);
}

#[tokio::test]
async fn an_approval_whose_stock_product_no_longer_holds_is_not_captured() {
    let w = world().await;
    let pending = charge_paypal(&w, "pp-gone", 1200).await;
    let order_id = order_of(&pending);
    // Expired at product, its ReservationReleased not delivered yet.
    w.product.set("order-pp-gone", ReservationState::Expired);
    w.paypal.approve(&order_id);
    paypal_webhook(&w.app, &approved_event(&order_id), GOOD_SIGNATURE).await;
    let failed = settled(&w, &pending.payment_id, 10).await;
    assert_eq!((status(&failed), failed.failure_code.as_str()), (PaymentStatus::Failed, "approval_expired"));
    assert_eq!(w.paypal.captures(), 0);
}

#[tokio::test]
async fn a_webhook_paypal_does_not_confirm_changes_nothing_and_a_replay_is_a_no_op() {
    let w = world().await;
    let pending = charge_paypal(&w, "pp-forged", 1500).await;
    let order_id = order_of(&pending);
    w.product.set("order-pp-forged", ReservationState::Reserved);
    let forged_capture = json!({
        "id": "WH-FORGED-1",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource": {
            "id": "CAPTURE-FORGED", "status": "COMPLETED", "custom_id": pending.payment_id,
            "amount": {"currency_code": "EUR", "value": "15.00"},
            "supplementary_data": {"related_ids": {"order_id": order_id}},
        },
    });
    let (code, body) = paypal_webhook(&w.app, &forged_capture, "forged-signature").await;
    assert_eq!(code, 400);
    assert_eq!(body["error"]["code"], "invalid_webhook", "{body}");

    // Signed, but of a type this service does not take.
    let unknown = json!({"id": "WH-OTHER-1", "event_type": "CUSTOMER.DISPUTE.CREATED", "resource": {"id": "PP-D-1"}});
    assert_eq!(paypal_webhook(&w.app, &unknown, GOOD_SIGNATURE).await.0, 400);
    // A missing signature header.
    let response = w
        .app
        .client
        .post(format!("{}/v1/webhooks/paypal", w.app.address))
        .header("content-type", "application/json")
        .body(approved_event(&order_id).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(w.paypal.captures(), 0);
    assert_eq!(status(&get(&w.app, &w.shopper, &pending.payment_id).await), PaymentStatus::Pending);

    // Verified, but about another amount: recorded, and not believed.
    let other_amount = json!({
        "id": "WH-AMOUNT-1",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource": {
            "id": "CAPTURE-OTHER", "status": "COMPLETED", "custom_id": pending.payment_id,
            "amount": {"currency_code": "EUR", "value": "0.01"},
            "supplementary_data": {"related_ids": {"order_id": order_id}},
        },
    });
    assert_eq!(paypal_webhook(&w.app, &other_amount, GOOD_SIGNATURE).await.0, 200);
    assert_eq!(status(&get(&w.app, &w.shopper, &pending.payment_id).await), PaymentStatus::Pending);

    // The genuine approval, twice: the second is a duplicate, and one capture is made.
    w.paypal.approve(&order_id);
    let event = approved_event(&order_id);
    let (_, first) = paypal_webhook(&w.app, &event, GOOD_SIGNATURE).await;
    assert_eq!(first["duplicate"], false);
    let (_, second) = paypal_webhook(&w.app, &event, GOOD_SIGNATURE).await;
    assert_eq!(second["duplicate"], true);
    assert_eq!(status(&settled(&w, &pending.payment_id, 10).await), PaymentStatus::Succeeded);
    assert_eq!(w.paypal.captures(), 1);
}

#[tokio::test]
async fn a_lost_order_answer_is_repeated_with_the_same_request_id_and_makes_one_order() {
    let w = world().await;
    w.paypal.lose_answers(1);
    let pending = charge_paypal(&w, "pp-lost", 700).await;
    assert_eq!(status(&pending), PaymentStatus::Pending);
    assert!(pending.approval_url.is_empty(), "no answer, no link yet: {pending:?}");
    // The reconciler repeats the creation.
    until(&w, &pending.payment_id, 10, |p| !p.approval_url.is_empty()).await;
    assert_eq!(w.paypal.orders_created(), 1, "the repeat answered the first order");
    assert!(w.paypal.calls(|c| c == "POST /v2/checkout/orders") >= 2);
}

#[tokio::test]
async fn a_capture_paypal_declines_sends_the_buyer_back_and_one_it_denies_fails_the_payment() {
    let w = world().await;
    let pending = charge_paypal(&w, "pp-declined", 800).await;
    let order_id = order_of(&pending);
    w.product.set("order-pp-declined", ReservationState::Reserved);
    w.paypal.decline_captures(true);
    w.paypal.approve(&order_id);
    paypal_webhook(&w.app, &approved_event(&order_id), GOOD_SIGNATURE).await;
    // INSTRUMENT_DECLINED: the buyer must pick another funding source at the same link.
    eventually(5, || async { w.paypal.calls(|c| c.ends_with("/capture")) >= 1 }).await;
    assert!(w.paypal.calls(|c| c.ends_with("/capture")) >= 1);
    let still = get(&w.app, &w.shopper, &pending.payment_id).await;
    assert_eq!(status(&still), PaymentStatus::Pending);
    assert_eq!(still.approval_url, pending.approval_url);

    // Approved again, and this time PayPal denies the capture for good.
    w.paypal.decline_captures(false);
    w.paypal.deny_captures(true);
    paypal_webhook(&w.app, &approved_event(&order_id), GOOD_SIGNATURE).await;
    let failed = settled(&w, &pending.payment_id, 10).await;
    assert_eq!(status(&failed), PaymentStatus::Failed);
    assert_eq!(failed.failure_code, "declined");
}

#[tokio::test]
async fn paypal_is_refused_where_no_account_is_configured_and_takes_no_card_token() {
    let w = world().await;
    let with_token =
        ChargeRequest { payment_token: "tok_visa".to_owned(), ..paypal_request("pp-tok", "order-pp-tok", 100) };
    let refused = w.app.payments().await.charge(authed(with_token, &w.shopper.token)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("payment_token"), "{}", refused.message());

    let cards_only = spawn_app_with(|_| {}).await;
    let shopper = cards_only.shopper();
    let request = paypal_request("pp-none", "order-pp-none", 100);
    let refused = cards_only.payments().await.charge(authed(request, &shopper.token)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().starts_with("payment_method_unavailable"), "{}", refused.message());
    assert_eq!(w.paypal.orders_created(), 0);
}

#[tokio::test]
async fn a_capture_whose_answer_was_lost_before_the_release_is_asked_again_and_refunded_never_kept() {
    let w = world().await;
    let pending = charge_paypal(&w, "pp-lost-capture", 1100).await;
    let order_id = order_of(&pending);
    w.product.set("order-pp-lost-capture", ReservationState::Reserved);
    w.paypal.approve(&order_id);
    // PayPal captures, and its answer is lost: the payment stays pending, its capture recorded;
    // and PayPal's look-ups do not show the capture yet (still processing).
    w.paypal.hide_captures(true);
    w.paypal.lose_answers(1);
    paypal_webhook(&w.app, &approved_event(&order_id), GOOD_SIGNATURE).await;
    eventually(5, || async { w.paypal.captures() == 1 }).await;
    assert_eq!(w.paypal.captures(), 1);
    assert_eq!(status(&get(&w.app, &w.shopper, &pending.payment_id).await), PaymentStatus::Pending);

    // The reservation runs out before the next look-up: the capture is asked again by its
    // request id, found made, booked, and refunded in full, since nothing was sold.
    w.product.set("order-pp-lost-capture", ReservationState::Expired);
    publish_release(&w.app, &released_envelope("order-pp-lost-capture", "expired"), "order-pp-lost-capture").await;
    until(&w, &pending.payment_id, 15, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!((w.paypal.captures(), w.paypal.refunds_created()), (1, 1));
}

#[tokio::test]
async fn a_capture_paypal_holds_when_the_stock_is_released_is_followed_to_its_end_and_refunded() {
    let w = world().await;
    let pending = charge_paypal(&w, "pp-held", 1300).await;
    let order_id = order_of(&pending);
    w.product.set("order-pp-held", ReservationState::Reserved);
    w.paypal.hold_captures(true);
    w.paypal.approve(&order_id);
    paypal_webhook(&w.app, &approved_event(&order_id), GOOD_SIGNATURE).await;
    eventually(5, || async { w.paypal.captures() == 1 }).await;
    assert_eq!(w.paypal.captures(), 1, "captured, and held by PayPal");

    // Released while PayPal holds the capture: not booked "nothing was taken".
    w.product.set("order-pp-held", ReservationState::Expired);
    publish_release(&w.app, &released_envelope("order-pp-held", "expired"), "order-pp-held").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(status(&get(&w.app, &w.shopper, &pending.payment_id).await), PaymentStatus::Pending);

    // PayPal completes it and says so: booked, and refunded in full since nothing was sold.
    w.paypal.complete_held_captures();
    let completed = json!({
        "id": format!("WH-{}", uuid::Uuid::now_v7().simple()),
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource": {
            "id": "CAPTURE-000001", "status": "COMPLETED", "custom_id": pending.payment_id,
            "amount": {"currency_code": "EUR", "value": "13.00"},
            "supplementary_data": {"related_ids": {"order_id": order_id}},
        },
    });
    assert_eq!(paypal_webhook(&w.app, &completed, GOOD_SIGNATURE).await.0, 200);
    until(&w, &pending.payment_id, 10, |p| status(p) == PaymentStatus::Refunded).await;
    assert_eq!(w.paypal.refunds_created(), 1);
}

#[tokio::test]
async fn an_order_paypal_no_longer_has_after_a_refused_capture_and_the_release_ends_the_payment() {
    let w = world().await;
    let pending = charge_paypal(&w, "pp-gone-order", 600).await;
    let order_id = order_of(&pending);
    w.product.set("order-pp-gone-order", ReservationState::Reserved);
    w.paypal.decline_captures(true);
    w.paypal.approve(&order_id);
    paypal_webhook(&w.app, &approved_event(&order_id), GOOD_SIGNATURE).await;
    eventually(5, || async { w.paypal.calls(|c| c.ends_with("/capture")) >= 1 }).await;
    w.paypal.forget_order(&order_id);
    w.product.set("order-pp-gone-order", ReservationState::Expired);
    publish_release(&w.app, &released_envelope("order-pp-gone-order", "expired"), "order-pp-gone-order").await;
    let failed = settled(&w, &pending.payment_id, 15).await;
    assert_eq!((status(&failed), failed.failure_code.as_str()), (PaymentStatus::Failed, "approval_expired"));
    assert_eq!(w.paypal.captures(), 0);
}
