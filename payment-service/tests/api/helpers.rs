use crate::{
    pki::{Caller, PKI},
    tokens::{JwksServer, TestKey},
};
use diesel::{
    sql_types::{BigInt, Text},
    QueryableByName,
};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use payment_service::{
    configuration::Settings,
    proto::shop::{
        events::v1::{Envelope, ReservationReleased},
        payment::v1::payment_service_client::PaymentServiceClient,
    },
    startup::Application,
    telemetry,
};
use prost::Message as _;
use ring::hmac;
use secrecy::SecretString;
use std::{sync::LazyLock, time::Duration};

/// A login allowed to create databases named payment_test_* (infra/local grants that).
pub fn admin_database_url() -> String {
    std::env::var("PAYMENT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "mysql://payment:payment@127.0.0.1:3306/payment".to_owned())
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
    pub grpc_port: u16,
    pub database_url: String,
    pub client: reqwest::Client,
    /// This test's own topic.
    pub events_topic: String,
    /// This test's own product-events topic, which the service consumes.
    pub product_events_topic: String,
    /// The key auth would sign this test's tokens with, and the JWKS serving it.
    pub auth_key: std::sync::Arc<TestKey>,
    pub jwks: JwksServer,
}

/// A shopper: a user id and a token for it.
pub struct Shopper {
    pub user_id: String,
    pub token: String,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request sent")
    }

    /// A new user with a valid token.
    pub fn shopper(&self) -> Shopper {
        let user_id = uuid::Uuid::now_v7().to_string();
        let token = self.auth_key.token_with(&["customer"], |c| c["sub"] = serde_json::json!(user_id));
        Shopper { user_id, token }
    }

    pub async fn payments(&self) -> PaymentServiceClient<tonic::transport::Channel> {
        PaymentServiceClient::new(self.grpc_channel().await)
    }

    /// Waits until the migrations ran (start-up applies them in the background).
    pub async fn wait_for_migrations(&self) {
        for _ in 0..300 {
            if !self.get("/readyz").await.text().await.unwrap_or_default().contains("migrations not applied") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("migrations not applied after 15 s");
    }

    /// The event types on this test's topic for `user_id`, once at least `at_least` records
    /// were read, with their envelopes.
    pub async fn events_of(&self, user_id: &str, at_least: usize) -> Vec<Envelope> {
        use prost::Message as _;
        use rdkafka::Message as _;
        let messages =
            crate::kafka::read(&kafka_brokers(), &self.events_topic, at_least, Duration::from_secs(30)).await;
        messages
            .iter()
            .filter(|m| m.key() == Some(user_id.as_bytes()))
            .map(|m| Envelope::decode(m.payload().unwrap()).unwrap())
            .collect()
    }

    /// A channel to the gRPC port as cart-service, payment's one caller.
    pub async fn grpc_channel(&self) -> tonic::transport::Channel {
        self.grpc_channel_as(Caller::Workload("cart-service")).await
    }

    pub async fn grpc_channel_as(&self, caller: Caller) -> tonic::transport::Channel {
        crate::pki::channel_as(self.grpc_port, caller).await.unwrap()
    }

    /// Polls `/readyz` until it answers 200 (migrations run in the background at start-up).
    pub async fn wait_until_ready(&self) {
        for _ in 0..150 {
            if self.get("/readyz").await.status() == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("not ready after 15 s: {}", self.get("/readyz").await.text().await.unwrap_or_default());
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the service with test settings, then lets `customise` change them, and waits for
/// its migrations when it runs against a database of this server.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let (app, own_database) = start_app_with(customise).await;
    if own_database {
        app.wait_for_migrations().await;
    }
    app
}

/// Starts the service and returns at once, with whether it runs against a database of this
/// server (whose migrations `spawn_app_with` waits for).
pub async fn start_app_with(customise: impl FnOnce(&mut Settings)) -> (TestApp, bool) {
    LazyLock::force(&TELEMETRY);
    let database_url = create_database().await;
    let mut settings = Settings::from_vars(Vec::new()).expect("defaults are valid");
    settings.http_port = 0;
    settings.grpc_port = 0;
    settings.database.url = SecretString::from(database_url.clone());
    settings.kafka.brokers = kafka_brokers();
    let run = uuid::Uuid::now_v7().simple().to_string();
    settings.kafka.events_topic = format!("test.{run}.payment.events.v1");
    settings.kafka.product_events_topic = format!("test.{run}.product.events.v1");
    settings.kafka.group_id = format!("test-{run}");
    settings.kafka.session_timeout = Duration::from_millis(6000);
    settings.gateway.reconcile_interval = Duration::from_millis(100);
    settings.gateway.webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
    let auth_key = std::sync::Arc::new(TestKey::generate("test-key-1"));
    let jwks = JwksServer::start(&[&auth_key]);
    settings.auth.jwks_url = jwks.url.clone();
    settings.auth.grpc_url = jwks.grpc_url.clone();
    settings.tls.dir = PKI.dir("payment-service");
    customise(&mut settings);
    let events_topic = settings.kafka.events_topic.clone();
    let product_events_topic = settings.kafka.product_events_topic.clone();
    if settings.kafka.brokers == kafka_brokers() {
        let dlq = format!("{product_events_topic}.dlq");
        crate::kafka::create_topics(&settings.kafka.brokers, &[&events_topic, &product_events_topic, &dlq]).await;
    }
    let server = admin_database_url().rsplit_once('/').map(|(base, _)| base.to_owned()).unwrap_or_default();
    let own_database = secrecy::ExposeSecret::expose_secret(&settings.database.url).starts_with(&server);

    let app = Application::build(settings).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.http_port());
    let grpc_port = app.grpc_port();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address,
        grpc_port,
        database_url,
        client: reqwest::Client::new(),
        events_topic,
        product_events_topic,
        auth_key,
        jwks,
    };
    (app, own_database)
}

/// The webhook signing secret every test app is configured with.
pub const WEBHOOK_SECRET: &str = "whsec_test_0123456789abcdef";

/// A request carrying `token` as the user's bearer token.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

const TEST_DATABASE_PREFIX: &str = "payment_test_";

/// Creates an empty database with a random name and returns its URL.
pub async fn create_database() -> String {
    let admin = admin_database_url();
    let name = format!("{TEST_DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
    let mut conn = AsyncMysqlConnection::establish(&admin).await.expect("the test database login connects");
    STALE_DATABASES_DROPPED.get_or_init(|| drop_stale_databases(&mut conn)).await;
    diesel::sql_query(format!("CREATE DATABASE `{name}`")).execute(&mut conn).await.expect("database created");
    let base = admin.rsplit_once('/').expect("URL has a database").0;
    format!("{base}/{name}")
}

static STALE_DATABASES_DROPPED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

#[derive(QueryableByName)]
struct DatabaseName {
    #[diesel(sql_type = Text)]
    datname: String,
}

/// Drops the test databases of earlier runs: those whose name (a UUIDv7, which starts with
/// its creation time in milliseconds) is more than an hour old, so a run going on beside this
/// one keeps its own.
async fn drop_stale_databases(conn: &mut AsyncMysqlConnection) {
    let names: Vec<DatabaseName> =
        diesel::sql_query(format!(
            "SELECT schema_name AS datname FROM information_schema.schemata WHERE schema_name LIKE '{TEST_DATABASE_PREFIX}%'"
        ))
            .load(conn)
            .await
            .unwrap_or_default();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let hour_ago = hour_ago.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    for DatabaseName { datname } in names {
        let created_ms =
            datname.strip_prefix(TEST_DATABASE_PREFIX).and_then(|uuid| u128::from_str_radix(uuid.get(..12)?, 16).ok());
        if created_ms.is_some_and(|ms| ms < hour_ago) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS `{datname}`")).execute(conn).await;
        }
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

/// A port free now, for a throwaway server the test starts on it later.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs a `SELECT CAST(count(*) AS SIGNED) AS n ...` query.
pub async fn count(database_url: &str, sql: &str) -> i64 {
    let mut conn = AsyncMysqlConnection::establish(database_url).await.unwrap();
    diesel::sql_query(sql).get_result::<Count>(&mut conn).await.unwrap().n
}

/// Runs one statement (a test's way of making time pass: expiring a key, say).
pub async fn execute(database_url: &str, sql: &str) {
    let mut conn = AsyncMysqlConnection::establish(database_url).await.unwrap();
    diesel::sql_query(sql).execute(&mut conn).await.unwrap();
}

/// The service on the Stripe adapter, pointed at `mock` (5 s gateway timeout), then `customise`d.
pub async fn stripe_app(mock: &crate::stripe_mock::StripeMock, customise: impl FnOnce(&mut Settings)) -> TestApp {
    let base = mock.base_url.clone();
    spawn_app_with(move |s| {
        s.gateway.kind = payment_service::configuration::GatewayKind::Stripe;
        s.gateway.stripe_api_base = base;
        s.gateway.stripe_secret_key = Some(SecretString::from("sk_test_mock"));
        s.gateway.timeout = Duration::from_secs(5);
        customise(s);
    })
    .await
}

/// A Stripe-Signature header for `body` at `timestamp`, with the test's webhook secret.
fn signature(body: &str, timestamp: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    let tag = hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

pub async fn webhook(app: &TestApp, event: serde_json::Value) -> serde_json::Value {
    let body = event.to_string();
    let response = app
        .client
        .post(format!("{}/v1/webhooks/stripe", app.address))
        .header("Stripe-Signature", signature(&body, chrono::Utc::now().timestamp()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// What product-service publishes when a checkout's reservation ends without a sale.
pub fn released_envelope(order_id: &str, reason: &str) -> Vec<u8> {
    let event = ReservationReleased {
        reservation_id: order_id.to_owned(),
        reason: reason.to_owned(),
        released_at: Some(std::time::SystemTime::now().into()),
    };
    Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: "shop.events.v1.ReservationReleased".to_owned(),
        occurred_at: Some(std::time::SystemTime::now().into()),
        producer: "product-service".to_owned(),
        aggregate_id: order_id.to_owned(),
        payload: event.encode_to_vec(),
    }
    .encode_to_vec()
}

pub async fn publish_release(app: &TestApp, envelope: &[u8], order_id: &str) {
    crate::kafka::publish(&kafka_brokers(), &app.product_events_topic, order_id, envelope).await;
}

/// Polls `check` every 100 ms for up to `seconds`; whether it came true.
pub async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..seconds * 10 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Serves `routes` (a stand-in of another platform service) on a port of its own over mutual
/// TLS with the test CA's certificate of `workload`, refusing a caller without a certificate of
/// that CA; returns its URL.
pub fn serve_as(workload: &str, routes: tonic::service::Routes) -> String {
    let dir = crate::pki::PKI.dir(workload);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let tls = tonic::transport::ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(read("tls.crt"), read("tls.key")))
        .client_ca_root(tonic::transport::Certificate::from_pem(read("ca.crt")));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let server = tonic::transport::Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_routes(routes)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    url
}
