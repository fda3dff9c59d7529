//! Service identity on the gRPC port (mutual TLS): a shopper's own token, sent without the
//! calling service's certificate, refunds nothing and charges nothing (UNAUTHENTICATED); a
//! platform workload other than cart is PERMISSION_DENIED; a certificate of another CA or an
//! expired one gets no call through. No money moves in any of them.
use crate::{
    helpers::{authed, spawn_app, spawn_app_with, Shopper, TestApp},
    payment_calls::{charge, charge_request, eur, get, status},
    pki::{channel_as, Caller, PKI},
};
use payment_service::proto::shop::payment::v1::{
    payment_service_client::PaymentServiceClient, GetPaymentRequest, ListPaymentsRequest, PaymentStatus, RefundRequest,
};
use std::time::Duration;
use tonic::{transport::Channel, Code};
use tonic_types::StatusExt;

fn refund_request(payment_id: &str) -> RefundRequest {
    RefundRequest {
        idempotency_key: uuid::Uuid::now_v7().to_string(),
        payment_id: payment_id.to_owned(),
        amount: eur(1_000),
        reason: "requested_by_customer".to_owned(),
    }
}

/// Every method as `shopper`, each with its outcome.
async fn every_method(
    client: &mut PaymentServiceClient<Channel>,
    shopper: &Shopper,
    paid: &str,
) -> Vec<(&'static str, Result<(), tonic::Status>)> {
    let new_order = uuid::Uuid::now_v7().to_string();
    let charge = charge_request(&new_order, &new_order, 1_000, "tok_visa");
    vec![
        ("Charge", client.charge(authed(charge, &shopper.token)).await.map(drop)),
        ("Refund", client.refund(authed(refund_request(paid), &shopper.token)).await.map(drop)),
        (
            "GetPayment",
            client
                .get_payment(authed(GetPaymentRequest { payment_id: paid.to_owned() }, &shopper.token))
                .await
                .map(drop),
        ),
        ("ListPayments", client.list_payments(authed(ListPaymentsRequest::default(), &shopper.token)).await.map(drop)),
    ]
}

/// The shopper's one paid payment, as cart charged it.
async fn paid_payment(app: &TestApp, shopper: &Shopper) -> String {
    let order = uuid::Uuid::now_v7().to_string();
    let payment = charge(app, shopper, charge_request(&order, &order, 1_000, "tok_visa")).await.unwrap();
    assert_eq!(status(&payment), PaymentStatus::Succeeded);
    payment.payment_id
}

/// Nothing moved: the payment is still paid in full, and it is the shopper's only one.
async fn assert_untouched(app: &TestApp, shopper: &Shopper, paid: &str) {
    let payment = get(app, shopper, paid).await;
    assert_eq!(status(&payment), PaymentStatus::Succeeded);
    assert_eq!(payment.refunded, eur(0));
    let list = app
        .payments()
        .await
        .list_payments(authed(ListPaymentsRequest::default(), &shopper.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.payments.len(), 1, "no charge was made");
}

#[tokio::test]
async fn a_shoppers_own_token_without_the_services_certificate_refunds_and_charges_nothing() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let paid = paid_payment(&app, &shopper).await;

    let mut shopper_alone = PaymentServiceClient::new(app.grpc_channel_as(Caller::Anonymous).await);
    for (method, outcome) in every_method(&mut shopper_alone, &shopper, &paid).await {
        let refused = outcome.expect_err(method);
        assert_eq!(refused.code(), Code::Unauthenticated, "{method}: {refused:?}");
        assert_eq!(refused.get_details_error_info().unwrap().reason, "UNAUTHENTICATED", "{method}");
        assert!(refused.message().contains("client certificate"), "{method}: {}", refused.message());
    }
    assert_untouched(&app, &shopper, &paid).await;
}

#[tokio::test]
async fn a_platform_workload_other_than_cart_is_refused_every_method() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let paid = paid_payment(&app, &shopper).await;
    for workload in ["auth-service", "product-service", "payment-service"] {
        let mut other = PaymentServiceClient::new(app.grpc_channel_as(Caller::Workload(workload)).await);
        for (method, outcome) in every_method(&mut other, &shopper, &paid).await {
            let refused = outcome.expect_err(method);
            assert_eq!(refused.code(), Code::PermissionDenied, "{workload} {method}: {refused:?}");
            assert_eq!(refused.get_details_error_info().unwrap().reason, "PERMISSION_DENIED");
            assert_eq!(refused.message(), format!("permission_denied: {workload} may not call {method}"));
        }
    }
    assert_untouched(&app, &shopper, &paid).await;
}

#[tokio::test]
async fn a_certificate_of_another_ca_or_an_expired_one_gets_no_refund_through() {
    let app = spawn_app().await;
    let shopper = app.shopper();
    let paid = paid_payment(&app, &shopper).await;
    for caller in [Caller::OtherCa, Caller::Expired] {
        // TLS 1.3 finishes the client's side of the handshake before the server has checked the
        // client's certificate: the refusal may arrive with the first call instead.
        let outcome = match channel_as(app.grpc_port, caller).await {
            Err(error) => Err(format!("{error:?}")),
            Ok(channel) => PaymentServiceClient::new(channel)
                .refund(authed(refund_request(&paid), &shopper.token))
                .await
                .map(drop)
                .map_err(|status| format!("{status:?}")),
        };
        let refusal = outcome.expect_err("the handshake is refused");
        assert!(!refusal.contains("PermissionDenied") && !refusal.contains("Unauthenticated"), "{caller:?}: {refusal}");
    }
    assert_untouched(&app, &shopper, &paid).await;
}

#[tokio::test]
async fn a_certificate_close_to_its_expiry_makes_the_replica_unready_with_the_reason() {
    let margin = Duration::from_secs(2 * 86_400);
    let app = spawn_app_with(move |s| {
        s.tls.dir = PKI.expiring();
        s.tls.expiry_margin = margin;
    })
    .await;
    let readiness = app.get("/readyz").await;
    assert_eq!(readiness.status(), 503);
    let body: serde_json::Value = readiness.json().await.unwrap();
    let tls = body["checks"].as_array().unwrap().iter().find(|c| c["name"] == "tls").cloned().unwrap();
    assert_eq!(tls["ok"], false);
    assert!(tls["error"].as_str().unwrap().contains("expires in"), "{tls}");
    // The database and the broker are fine: only the certificate holds the replica back.
    for check in body["checks"].as_array().unwrap().iter().filter(|c| c["name"] != "tls") {
        assert_eq!(check["ok"], true, "{check}");
    }
    // The expiry is a metric to alert on long before.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line = metrics.lines().find(|l| l.starts_with("tls_certificate_expiry_timestamp_seconds ")).unwrap();
    let expires_at: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let in_a_day = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 86_400;
    assert!(expires_at.abs_diff(in_a_day) < 120, "{line}");

    // The same certificate with room left: ready.
    let app = spawn_app_with(|s| s.tls.dir = PKI.expiring()).await;
    app.wait_until_ready().await;
}
