//! Service identity on the gRPC port (mutual TLS): a call without a client certificate is
//! UNAUTHENTICATED, a platform workload calling what is not its to call is PERMISSION_DENIED, a
//! certificate of another CA or an expired one fails the handshake, a plain-text client gets
//! nothing — and none of them moves stock. A rotated certificate is served without a restart.
use crate::{
    helpers::{spawn_app, spawn_app_with, TestApp},
    pki::{channel_as, channel_trusting, Caller, PKI},
};
use product_service::proto::shop::{
    common::v1::Money,
    product::v1::{
        product_service_client::ProductServiceClient, CommitReservationRequest, GetProductRequest,
        GetReservationRequest, ReleaseReservationRequest, ReservationLine, ReserveStockRequest,
    },
};
use std::time::Duration;
use tonic::{transport::Channel, Code};
use tonic_types::StatusExt;
use uuid::Uuid;

async fn client_as(app: &TestApp, caller: Caller) -> ProductServiceClient<Channel> {
    ProductServiceClient::new(app.grpc_channel_as(caller).await)
}

fn reserve(id: &str, product: Uuid) -> ReserveStockRequest {
    ReserveStockRequest {
        reservation_id: id.to_owned(),
        lines: vec![ReservationLine { product_id: product.to_string(), quantity: 2 }],
    }
}

async fn available(app: &TestApp, product: Uuid) -> i64 {
    let mut cart = client_as(app, Caller::Workload("cart-service")).await;
    cart.get_product(GetProductRequest { product_id: product.to_string() })
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap()
        .available
}

/// Every method of `client`, each with its outcome (`held`: a reservation to name).
async fn every_method(
    client: &mut ProductServiceClient<Channel>,
    product: Uuid,
    held: &str,
) -> Vec<(&'static str, Result<(), tonic::Status>)> {
    let paid = Some(Money { amount_minor: 1_000, currency: "EUR".to_owned() });
    let id = || held.to_owned();
    let product_id = product.to_string();
    vec![
        ("GetProduct", client.get_product(GetProductRequest { product_id }).await.map(drop)),
        ("ReserveStock", client.reserve_stock(reserve(&Uuid::now_v7().to_string(), product)).await.map(drop)),
        (
            "CommitReservation",
            client.commit_reservation(CommitReservationRequest { reservation_id: id(), paid }).await.map(drop),
        ),
        (
            "ReleaseReservation",
            client.release_reservation(ReleaseReservationRequest { reservation_id: id() }).await.map(drop),
        ),
        ("GetReservation", client.get_reservation(GetReservationRequest { reservation_id: id() }).await.map(drop)),
    ]
}

#[tokio::test]
async fn a_call_without_a_client_certificate_is_unauthenticated_even_with_a_token_and_moves_no_stock() {
    let app = spawn_app().await;
    let product = app.add_product(5, 500).await;
    let held = Uuid::now_v7().to_string();
    client_as(&app, Caller::Workload("cart-service")).await.reserve_stock(reserve(&held, product)).await.unwrap();

    let mut anonymous = client_as(&app, Caller::Anonymous).await;
    for (method, outcome) in every_method(&mut anonymous, product, &held).await {
        let refused = outcome.expect_err(method);
        assert_eq!(refused.code(), Code::Unauthenticated, "{method}: {refused:?}");
        let info = refused.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.reason, "UNAUTHENTICATED", "{method}");
        assert!(refused.message().contains("client certificate"), "{method}: {}", refused.message());
    }
    // A shopper's (or an admin's) token does not stand in for the calling service's identity.
    let mut request = tonic::Request::new(reserve(&Uuid::now_v7().to_string(), product));
    request.metadata_mut().insert("authorization", format!("Bearer {}", app.admin_token()).parse().unwrap());
    let refused = anonymous.reserve_stock(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    assert_eq!(available(&app, product).await, 3, "only cart's reservation holds stock");
}

#[tokio::test]
async fn a_workload_is_refused_the_methods_that_are_not_its_own() {
    let app = spawn_app().await;
    let product = app.add_product(5, 500).await;
    let held = Uuid::now_v7().to_string();
    let mut cart = client_as(&app, Caller::Workload("cart-service")).await;
    cart.reserve_stock(reserve(&held, product)).await.unwrap();

    // auth calls none of product's methods; payment only asks what became of a reservation.
    let mut auth = client_as(&app, Caller::Workload("auth-service")).await;
    for (method, outcome) in every_method(&mut auth, product, &held).await {
        let refused = outcome.expect_err(method);
        assert_eq!(refused.code(), Code::PermissionDenied, "{method}: {refused:?}");
        assert_eq!(refused.get_details_error_info().unwrap().reason, "FORBIDDEN");
        assert!(refused.message().contains("auth-service may not call"), "{}", refused.message());
    }
    let mut payment = client_as(&app, Caller::Workload("payment-service")).await;
    for (method, outcome) in every_method(&mut payment, product, &held).await {
        match method {
            "GetReservation" => assert!(outcome.is_ok(), "{outcome:?}"),
            _ => assert_eq!(outcome.expect_err(method).code(), Code::PermissionDenied, "{method}"),
        }
    }
    let refused = cart.get_reservation(GetReservationRequest { reservation_id: held.clone() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "the sweeper's question is payment's");

    assert_eq!(available(&app, product).await, 3, "cart's reservation holds, nothing else moved");
    let ok = cart.release_reservation(ReleaseReservationRequest { reservation_id: held }).await.unwrap();
    assert!(ok.into_inner().reservation.is_some());
    assert_eq!(available(&app, product).await, 5);
}

#[tokio::test]
async fn a_certificate_of_another_ca_an_expired_one_or_plain_text_gets_no_call_through() {
    let app = spawn_app().await;
    let product = app.add_product(5, 500).await;
    for caller in [Caller::OtherCa, Caller::Expired] {
        // TLS 1.3 finishes the client's side of the handshake before the server has checked the
        // client's certificate: the refusal may arrive with the first call instead.
        let outcome = match channel_as(app.grpc_port, caller).await {
            Err(error) => Err(format!("{error:?}")),
            Ok(channel) => ProductServiceClient::new(channel)
                .reserve_stock(reserve(&Uuid::now_v7().to_string(), product))
                .await
                .map_err(|status| format!("{status:?}")),
        };
        let refusal = outcome.expect_err("the handshake is refused");
        assert!(!refusal.contains("PermissionDenied") && !refusal.contains("Unauthenticated"), "{caller:?}: {refusal}");
    }
    let plain = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", app.grpc_port)).unwrap();
    let outcome = match plain.connect().await {
        Err(error) => Err(format!("{error:?}")),
        Ok(channel) => ProductServiceClient::new(channel)
            .reserve_stock(reserve(&Uuid::now_v7().to_string(), product))
            .await
            .map_err(|status| format!("{status:?}")),
    };
    assert!(outcome.is_err(), "plain text is not served");
    assert_eq!(available(&app, product).await, 5, "nothing was reserved");
}

#[tokio::test]
async fn a_rotated_certificate_is_served_to_new_connections_without_a_restart() {
    // The service's own folder, which the test rotates.
    let dir = std::env::temp_dir().join(format!("product-test-tls-{}", Uuid::now_v7().simple()));
    copy_identity(&PKI.dir("product-service"), &dir);
    let tls_dir = dir.clone();
    let app = spawn_app_with(move |s| {
        s.tls.dir = tls_dir;
        s.tls.reload_interval = Duration::from_millis(100);
    })
    .await;
    let product = app.add_product(5, 500).await;
    let mut before = client_as(&app, Caller::Workload("cart-service")).await;
    before.get_product(GetProductRequest { product_id: product.to_string() }).await.unwrap();

    // Half a rotation (a certificate whose key is not there yet) is refused: the old identity
    // keeps serving new connections.
    std::fs::copy(PKI.other_ca("product-service").join("tls.crt"), dir.join("tls.crt")).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut during = client_as(&app, Caller::Workload("cart-service")).await;
    during.get_product(GetProductRequest { product_id: product.to_string() }).await.unwrap();

    // The whole new identity, under a new CA: new connections get it, and only callers of the
    // new CA are let in.
    copy_identity(&PKI.other_ca("product-service"), &dir);
    let rotated = async {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let Ok(channel) =
                channel_trusting(app.grpc_port, &PKI.other_ca("cart-service"), Some(PKI.other_ca("cart-service")))
                    .await
            else {
                continue;
            };
            let call = ProductServiceClient::new(channel)
                .get_product(GetProductRequest { product_id: product.to_string() })
                .await;
            if call.is_ok() {
                return true;
            }
        }
        false
    };
    assert!(rotated.await, "the new identity is served within 5 s");
    let old_ca = channel_as(app.grpc_port, Caller::Workload("cart-service")).await;
    assert!(old_ca.is_err(), "a client of the old CA no longer trusts the server");
    // A connection made before the rotation goes on.
    before.get_product(GetProductRequest { product_id: product.to_string() }).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn copy_identity(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    // The key first, as a rotation tool writes a pair.
    for file in ["ca.crt", "tls.key", "tls.crt"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
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
