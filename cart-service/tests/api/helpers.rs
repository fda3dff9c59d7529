use crate::tokens::{JwksServer, TestKey};
use cart_service::{configuration::Settings, startup::Application, telemetry};
use secrecy::SecretString;
use std::{sync::LazyLock, time::Duration};

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn kafka_brokers() -> String {
    std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Logs go nowhere unless TEST_LOG is set.
static TELEMETRY: LazyLock<()> = LazyLock::new(|| {
    let telemetry = if std::env::var_os("TEST_LOG").is_some() {
        telemetry::init("info", std::io::stdout)
    } else {
        telemetry::init("info", std::io::sink)
    };
    // Keep the provider for the whole test run.
    std::mem::forget(telemetry.expect("telemetry starts"));
});

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub product_topic: String,
    pub payment_topic: String,
    pub auth_topic: String,
    /// The key auth would sign this test's tokens with (a JWKS server of the test serves it).
    pub auth_key: std::sync::Arc<TestKey>,
    /// auth's stand-ins: its JWKS and its `VerifyToken`.
    pub auth: JwksServer,
    pub redis: cart_service::redis_store::Redis,
}

/// A shopper: a user id and a token for it.
pub struct Shopper {
    pub user_id: String,
    pub token: String,
}

impl TestApp {
    /// A new user with a valid token.
    pub fn shopper(&self) -> Shopper {
        let user_id = uuid::Uuid::now_v7().to_string();
        let token = self.auth_key.token_with(&["customer"], |c| c["sub"] = serde_json::json!(user_id));
        Shopper { user_id, token }
    }

    pub fn request(&self, method: reqwest::Method, path: &str, shopper: &Shopper) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.address)).bearer_auth(&shopper.token)
    }

    /// The store the service uses, for putting lines in place without product-service.
    pub fn store(&self) -> cart_service::store::CartStore {
        cart_service::store::CartStore::new(self.redis.clone(), Duration::from_secs(3600))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request sent")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the service with test settings, then lets `customise` change them.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TELEMETRY);
    let mut settings = Settings::from_vars(Vec::new()).expect("defaults are valid");
    settings.http_port = 0;
    // Plain text to where product and payment would be: these tests never reach them (the
    // e2e suite runs cart's mutual TLS against the real services).
    settings.upstream.product_grpc_url = "http://127.0.0.1:50052".to_owned();
    settings.upstream.payment_grpc_url = "http://127.0.0.1:50054".to_owned();
    settings.redis.url = SecretString::from(redis_url());
    settings.kafka.brokers = kafka_brokers();
    // This test's own topics and consumer group, and a quick first join.
    let run = uuid::Uuid::now_v7().simple().to_string();
    settings.kafka.product_events_topic = format!("test.{run}.product.events.v1");
    settings.kafka.payment_events_topic = format!("test.{run}.payment.events.v1");
    settings.kafka.auth_events_topic = format!("test.{run}.auth.events.v1");
    settings.kafka.group_id = format!("test-{run}");
    settings.kafka.session_timeout = Duration::from_millis(6000);
    let auth_key = std::sync::Arc::new(TestKey::generate("test-key-1"));
    let jwks = JwksServer::start(&[&auth_key]);
    settings.auth.base_url = jwks.url.trim_end_matches("/.well-known/jwks.json").to_owned();
    settings.upstream.auth_grpc_url = jwks.grpc_url.clone();
    customise(&mut settings);
    if settings.kafka.brokers == kafka_brokers() {
        let topics = [
            settings.kafka.product_events_topic.as_str(),
            settings.kafka.payment_events_topic.as_str(),
            settings.kafka.auth_events_topic.as_str(),
            &format!("{}.dlq", settings.kafka.product_events_topic),
            &format!("{}.dlq", settings.kafka.payment_events_topic),
            &format!("{}.dlq", settings.kafka.auth_events_topic),
        ];
        crate::kafka::create_topics(&settings.kafka.brokers, &topics).await;
    }
    let redis = cart_service::redis_store::Redis::new(&settings.redis).unwrap();
    let product_topic = settings.kafka.product_events_topic.clone();
    let payment_topic = settings.kafka.payment_events_topic.clone();
    let auth_topic = settings.kafka.auth_events_topic.clone();

    let app = Application::build(settings).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.http_port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap(),
        product_topic,
        payment_topic,
        auth_topic,
        auth_key,
        auth: jwks,
        redis,
    }
}

/// A port that refuses every connection until this test process exits: bound and never listened
/// on. A port merely bound and released could be handed to another test's server meanwhile (a
/// throwaway broker that accepts a database's first message and waits for more hung a test).
pub fn closed_port() -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let port = socket.local_addr().unwrap().port();
    std::mem::forget(socket);
    port
}

/// A product as cart stores it in a line: a mug at 12.50 EUR, available, version 1.
pub fn mug_snapshot(product_id: &str) -> cart_service::store::Snapshot {
    cart_service::store::Snapshot {
        product_id: product_id.to_owned(),
        name: "Mug".to_owned(),
        unit_price: cart_service::proto::shop::common::v1::Money { amount_minor: 1250, currency: "EUR".to_owned() },
        available: true,
        version: 1,
    }
}
