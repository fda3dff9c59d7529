use crate::helpers::{closed_port, spawn_app, spawn_app_with};
use secrecy::SecretString;
use serde_json::Value;

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ok");
}

/// Every REST response carries the security headers, errors included.
#[tokio::test]
async fn responses_carry_security_headers() {
    let app = spawn_app().await;
    for (path, status) in [("/healthz", 200), ("/no/such/route", 404)] {
        let response = app.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        let headers = response.headers();
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ] {
            assert_eq!(headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{path}: {name}");
        }
        assert!(headers.contains_key("strict-transport-security"), "{path}");
    }
}

/// Headers are bounded (16 KiB together): more is 431 with a code, less is served.
#[tokio::test]
async fn oversized_request_headers_are_refused_with_431() {
    let app = spawn_app().await;
    let get = |padding: usize| {
        app.client.get(format!("{}/healthz", app.address)).header("x-padding", "p".repeat(padding)).send()
    };
    assert_eq!(get(8 * 1024).await.unwrap().status(), 200);
    let refused = get(20 * 1024).await.unwrap();
    assert_eq!(refused.status(), 431);
    assert_eq!(refused.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "headers_too_large");
}

#[tokio::test]
async fn readyz_is_200_when_database_and_broker_answer() {
    let app = spawn_app().await;
    app.wait_until_ready().await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let checks = body["checks"].as_array().unwrap();
    let names: Vec<_> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["database", "kafka", "tls"]);
    assert!(checks.iter().all(|c| c["ok"] == true), "{body}");
}

#[tokio::test]
async fn readyz_is_503_naming_the_database_when_it_is_unreachable_and_healthz_still_answers() {
    let port = closed_port();
    let app = spawn_app_with(|s| {
        s.database.url = SecretString::from(format!("mysql://payment:payment@127.0.0.1:{port}/payment"));
    })
    .await;

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    let database = body["checks"].as_array().unwrap().iter().find(|c| c["name"] == "database").unwrap();
    assert_eq!(database["ok"], false, "{body}");
    assert!(database["error"].as_str().unwrap().len() > 5, "{body}");

    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn readyz_is_503_naming_kafka_when_the_broker_is_unreachable() {
    let port = closed_port();
    let app = spawn_app_with(|s| s.kafka.brokers = format!("127.0.0.1:{port}")).await;

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    let kafka = body["checks"].as_array().unwrap().iter().find(|c| c["name"] == "kafka").unwrap();
    assert_eq!(kafka["ok"], false, "{body}");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_per_route_template() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/route").await;

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 2"#), "{text}");
    assert!(text.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#), "{text}");
    assert!(text.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/healthz""#), "{text}");
}

#[tokio::test]
async fn an_unknown_route_gets_a_json_404_with_a_code() {
    let app = spawn_app().await;
    let response = app.get("/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].is_string());
}

/// Lines of the Prometheus page that are samples: one per series (and histogram bucket).
fn series(page: &str) -> usize {
    page.lines().filter(|line| !line.starts_with('#')).count()
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_metric_series() {
    let app = spawn_app().await;
    // Methods and paths are the client's to choose: every one of these is new to the server.
    let send = |client: reqwest::Client, address: String, n: usize| async move {
        let method = reqwest::Method::from_bytes(format!("MADEUP{n}{}", "X".repeat(n % 200)).as_bytes()).unwrap();
        client.request(method, format!("{address}/made/up/{n}")).send().await.expect("answered");
    };
    for n in 0..10 {
        send(app.client.clone(), app.address.clone(), n).await;
    }
    app.get("/metrics").await;
    let before = series(&app.get("/metrics").await.text().await.unwrap());

    let mut senders = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (client, address) = (app.client.clone(), app.address.clone());
        senders.spawn(async move {
            for n in (10 + worker..10_010).step_by(8) {
                send(client.clone(), address.clone(), n).await;
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    let page = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(series(&page), before, "{page}");
    assert!(page.contains(r#"http_requests_total{method="other",route="unmatched""#), "{page}");
}

/// Readiness asks the brokers about one topic of this service, never the whole cluster: a
/// shared cluster holds thousands of topics (this broker: every test's), and describing them
/// all on each check, a load balancer's every second, cost 30 MiB a replica and broker CPU.
#[tokio::test]
async fn the_kafka_readiness_check_describes_one_topic_not_the_cluster() {
    let own = format!("test.{}.payment.events.v1", uuid::Uuid::now_v7().simple());
    let other = format!("test.{}.someone.else", uuid::Uuid::now_v7().simple());
    crate::kafka::create_topics(&crate::helpers::kafka_brokers(), &[&own, &other]).await;
    let mut settings = payment_service::configuration::Settings::from_vars(Vec::new()).unwrap().kafka;
    settings.brokers = crate::helpers::kafka_brokers();
    settings.events_topic = own.clone();
    let kafka = payment_service::kafka::Kafka::new(&settings).unwrap();
    assert_eq!(kafka.described_topics().await.unwrap(), [own]);
}
