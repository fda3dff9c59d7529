use crate::helpers::{spawn_app, spawn_app_with, unique_email};
use auth_service::proto::shop::auth::v1::{
    auth_service_client::AuthServiceClient, GetUserRequest, Role, VerifyTokenRequest,
};
use serde_json::{json, Value};
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest};

const SERVICE: &str = "shop.auth.v1.AuthService";
const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn the_health_service_reports_serving() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.grpc_channel().await);
    for service in ["", SERVICE] {
        let status =
            health.check(HealthCheckRequest { service: service.to_owned() }).await.unwrap().into_inner().status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
    // Successful calls carry their status in the trailers: counted as OK, not as cancelled.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"grpc_requests_total{code="0",method="/grpc.health.v1.Health/Check"} 2"#), "{metrics}");
}

#[tokio::test]
async fn reflection_lists_the_api_in_both_protocol_versions() {
    let app = spawn_app().await;

    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest,
        server_reflection_response::MessageResponse, ServerReflectionRequest,
    };
    let mut v1 = ServerReflectionClient::new(app.grpc_channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = v1.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = stream.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a service list");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.iter().any(|n| n == SERVICE), "{names:?}");
    assert!(names.iter().any(|n| n == "grpc.health.v1.Health"), "{names:?}");

    use tonic_reflection::pb::v1alpha as alpha;
    let mut v1alpha = alpha::server_reflection_client::ServerReflectionClient::new(app.grpc_channel().await);
    let request = alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(alpha::server_reflection_request::MessageRequest::ListServices(String::new())),
    };
    let mut stream = v1alpha.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let response = stream.message().await.unwrap().unwrap().message_response;
    let Some(alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) = response else {
        panic!("not a service list");
    };
    assert!(list.service.iter().any(|s| s.name == SERVICE));
}

#[tokio::test]
async fn verify_token_returns_the_claims_and_honours_revocation() {
    let app = spawn_app().await;
    let tokens = app.signed_in(&unique_email(), PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let mut client = AuthServiceClient::new(app.grpc_channel().await);

    let claims = client
        .verify_token(VerifyTokenRequest { access_token: access.clone() })
        .await
        .unwrap()
        .into_inner()
        .claims
        .unwrap();
    assert_eq!(claims.roles, vec![Role::Customer as i32]);
    assert_eq!(claims.aud, "shop");
    assert!(claims.expires_at.unwrap().seconds > claims.issued_at.unwrap().seconds);

    app.post_json("/v1/auth/logout", &json!({ "refresh_token": tokens["refresh_token"] })).await;
    let status = client.verify_token(VerifyTokenRequest { access_token: access }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let status = client.verify_token(VerifyTokenRequest { access_token: String::new() }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"grpc_requests_total{code="16",method="/shop.auth.v1.AuthService/VerifyToken"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"grpc_requests_total{code="0",method="/shop.auth.v1.AuthService/VerifyToken"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn get_user_answers_the_user_or_an_admin_and_no_one_else() {
    let app = spawn_app().await;
    let email = unique_email();
    let signed_up: Value = app.signup(&email, PASSWORD).await.json().await.unwrap();
    let user_id = signed_up["user_id"].as_str().unwrap().to_owned();
    let tokens: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let mut client = AuthServiceClient::new(app.grpc_channel().await);
    let ask = |user_id: &str, token: Option<&str>| {
        let mut request = tonic::Request::new(GetUserRequest { user_id: user_id.to_owned() });
        if let Some(token) = token {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        request
    };

    let user = client.get_user(ask(&user_id, Some(token))).await.unwrap().into_inner().user.unwrap();
    assert_eq!(user.email, email);
    assert_eq!(user.user_id, user_id);
    // Whoever reaches the port, without a token or with another user's, learns nothing.
    let anonymous = client.get_user(ask(&user_id, None)).await.unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    let other = app.signed_in(&unique_email(), PASSWORD).await;
    let nosy = client.get_user(ask(&user_id, other["access_token"].as_str())).await.unwrap_err();
    assert_eq!(nosy.code(), tonic::Code::PermissionDenied);
    let forged = client.get_user(ask(&user_id, Some("a.b.c"))).await.unwrap_err();
    assert_eq!(forged.code(), tonic::Code::Unauthenticated);

    let missing = client.get_user(ask(&uuid::Uuid::now_v7().to_string(), Some(token))).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::PermissionDenied, "another id is another user's");
    let malformed = client.get_user(ask("42", Some(token))).await.unwrap_err();
    assert_eq!(malformed.code(), tonic::Code::InvalidArgument);

    // An admin may look anyone up, and learns when there is no one.
    let boss = unique_email();
    assert_eq!(app.signup(&boss, PASSWORD).await.status(), 201);
    let promote = format!(
        "WITH u AS (UPDATE users SET roles = ARRAY['customer', 'admin'] WHERE lower(email) = '{}' RETURNING 1) \
         SELECT count(*)::bigint AS n FROM u",
        boss.to_lowercase()
    );
    assert_eq!(crate::helpers::count(&app.database_url, &promote).await, 1);
    let admin: Value = app.login(&boss, PASSWORD).await.json().await.unwrap();
    let admin = admin["access_token"].as_str();
    assert_eq!(client.get_user(ask(&user_id, admin)).await.unwrap().into_inner().user.unwrap().email, email);
    let nobody = client.get_user(ask(&uuid::Uuid::now_v7().to_string(), admin)).await.unwrap_err();
    assert_eq!(nobody.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn made_up_grpc_paths_add_no_metric_series() {
    let app = spawn_app().await;
    let mut grpc = tonic::client::Grpc::new(app.grpc_channel().await);
    let call = |n: usize| {
        let path = http::uri::PathAndQuery::try_from(format!("/made.up{n}.Service/Method{n}")).unwrap();
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let mut grpc = grpc.clone();
        async move {
            grpc.ready().await.unwrap();
            let status = grpc.unary(tonic::Request::new(()), path, codec).await.unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unimplemented);
        }
    };
    call(0).await;
    app.get("/metrics").await;
    let page = app.get("/metrics").await.text().await.unwrap();
    let before = page.lines().filter(|line| !line.starts_with('#')).count();
    for n in 1..=10_000 {
        call(n).await;
    }
    let page = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(page.lines().filter(|line| !line.starts_with('#')).count(), before, "{page}");
    assert!(page.contains(r#"grpc_requests_total{code="12",method="unknown"} 10001"#), "{page}");
    grpc.ready().await.unwrap();
}

#[tokio::test]
async fn reflection_is_not_served_when_turned_off() {
    let app = spawn_app_with(|settings| settings.grpc_reflection = false).await;
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest,
        ServerReflectionRequest,
    };
    let mut v1 = ServerReflectionClient::new(app.grpc_channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let code = match v1.server_reflection_info(tokio_stream::iter([request])).await {
        Err(status) => status.code(),
        Ok(response) => response.into_inner().message().await.err().map_or(tonic::Code::Ok, |s| s.code()),
    };
    assert_eq!(code, tonic::Code::Unimplemented);
    // The API itself is still served.
    let mut health = HealthClient::new(app.grpc_channel().await);
    let status = health.check(HealthCheckRequest { service: SERVICE.into() }).await.unwrap().into_inner().status;
    assert_eq!(status, ServingStatus::Serving as i32);
}
