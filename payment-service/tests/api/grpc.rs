use crate::helpers::{spawn_app, spawn_app_with};
use payment_service::proto::shop::payment::v1::{payment_service_client::PaymentServiceClient, GetPaymentRequest};
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest};

const SERVICE: &str = "shop.payment.v1.PaymentService";

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
async fn calls_are_counted_by_method_and_status_code() {
    let app = spawn_app().await;
    let mut client = PaymentServiceClient::new(app.grpc_channel().await);
    let status = client.get_payment(GetPaymentRequest { payment_id: "x".into() }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"grpc_requests_total{code="16",method="/shop.payment.v1.PaymentService/GetPayment"} 1"#),
        "{metrics}"
    );
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
