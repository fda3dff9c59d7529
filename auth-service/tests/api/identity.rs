//! Service identity on auth's gRPC port (mutual TLS): checking a token is introspection, for the
//! platform's services only. A client holding a shopper's token but no service certificate
//! cannot verify tokens or look users up (UNAUTHENTICATED); a certificate of another CA gets
//! nothing through the handshake; auth's own certificate is not a caller of auth.
use crate::{
    helpers::{spawn_app, spawn_app_with, unique_email},
    pki::{channel_as, Caller, PKI},
};
use auth_service::proto::shop::auth::v1::{auth_service_client::AuthServiceClient, GetUserRequest, VerifyTokenRequest};
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;

const PASSWORD: &str = "correct horse battery staple";

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn only_the_services_that_check_tokens_may_verify_one_or_look_a_user_up() {
    let app = spawn_app().await;
    let email = unique_email();
    let signed_up: serde_json::Value = app.signup(&email, PASSWORD).await.json().await.unwrap();
    let user_id = signed_up["user_id"].as_str().unwrap().to_owned();
    let tokens: serde_json::Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let verify = || VerifyTokenRequest { access_token: access.clone() };

    // The shopper's own token, sent without a service's certificate.
    let mut shopper_alone = AuthServiceClient::new(app.grpc_channel_as(Caller::Anonymous).await);
    let refused = shopper_alone.verify_token(with_token(verify(), &access)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(refused.get_details_error_info().unwrap().reason, "UNAUTHENTICATED");
    let refused =
        shopper_alone.get_user(with_token(GetUserRequest { user_id: user_id.clone() }, &access)).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "the shopper's own e-mail address is not the shopper's to ask here"
    );

    // auth does not call itself: its certificate is refused by name.
    let mut auth = AuthServiceClient::new(app.grpc_channel_as(Caller::Workload("auth-service")).await);
    let refused = auth.verify_token(verify()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(refused.message(), "forbidden: auth-service may not call VerifyToken");

    for checker in ["product-service", "cart-service", "payment-service"] {
        let mut client = AuthServiceClient::new(app.grpc_channel_as(Caller::Workload(checker)).await);
        let claims = client.verify_token(verify()).await.unwrap().into_inner().claims.unwrap();
        assert_eq!(claims.sub, user_id, "{checker}");
    }
}

#[tokio::test]
async fn a_certificate_of_another_ca_or_an_expired_one_verifies_no_token() {
    let app = spawn_app().await;
    let tokens = app.signed_in(&unique_email(), PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    for caller in [Caller::OtherCa, Caller::Expired] {
        let outcome = match channel_as(app.grpc_port, caller).await {
            Err(error) => Err(format!("{error:?}")),
            Ok(channel) => AuthServiceClient::new(channel)
                .verify_token(VerifyTokenRequest { access_token: access.clone() })
                .await
                .map(drop)
                .map_err(|status| format!("{status:?}")),
        };
        let refusal = outcome.expect_err("the handshake is refused");
        assert!(!refusal.contains("PermissionDenied") && !refusal.contains("Unauthenticated"), "{caller:?}: {refusal}");
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
