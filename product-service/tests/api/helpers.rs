use crate::{
    pki::{Caller, PKI},
    tokens::{JwksServer, TestKey},
};
use diesel::{
    sql_types::{BigInt, Text},
    QueryableByName,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use product_service::{configuration::Settings, startup::Application, telemetry};
use secrecy::SecretString;
use std::{sync::LazyLock, time::Duration};

/// A login allowed to create databases (infra/local gives the service's login CREATEDB).
pub fn admin_database_url() -> String {
    std::env::var("PRODUCT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://product:product@127.0.0.1:5432/product".to_owned())
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
    /// The key auth would sign this test's tokens with, and the JWKS serving it.
    pub auth_key: std::sync::Arc<TestKey>,
    pub jwks: JwksServer,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request sent")
    }

    /// An admin's token, signed with this app's auth key.
    pub fn admin_token(&self) -> String {
        self.auth_key.token(&["customer", "admin"])
    }

    /// A request with `token` as its bearer token.
    pub fn with_token(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.address)).bearer_auth(token)
    }

    /// The event types of `product` on this test's topic, in order, once at least `at_least`
    /// records of the topic (any product) were read.
    pub async fn event_types_of(&self, product: uuid::Uuid, at_least: usize) -> Vec<String> {
        self.envelopes_of(&product.to_string(), at_least).await.into_iter().map(|e| e.event_type).collect()
    }

    /// The envelopes keyed `aggregate_id` on this test's topic, in order, once at least
    /// `at_least` records of the topic (any key) were read.
    pub async fn envelopes_of(
        &self,
        aggregate_id: &str,
        at_least: usize,
    ) -> Vec<product_service::proto::shop::events::v1::Envelope> {
        use prost::Message as _;
        use rdkafka::Message as _;
        let messages =
            crate::kafka::read(&kafka_brokers(), &self.events_topic, at_least, Duration::from_secs(30)).await;
        messages
            .iter()
            .map(|m| product_service::proto::shop::events::v1::Envelope::decode(m.payload().unwrap()).unwrap())
            .filter(|e| e.aggregate_id == aggregate_id)
            .collect()
    }

    /// A channel to the gRPC port as cart-service, product's main caller.
    pub async fn grpc_channel(&self) -> tonic::transport::Channel {
        self.grpc_channel_as(Caller::Workload("cart-service")).await
    }

    pub async fn grpc_channel_as(&self, caller: Caller) -> tonic::transport::Channel {
        crate::pki::channel_as(self.grpc_port, caller).await.unwrap()
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

    /// A product with `on_hand` units, written straight to this test's database.
    pub async fn add_product(&self, on_hand: i64, price_minor: i64) -> uuid::Uuid {
        use product_service::store::products::{insert, NewProduct};
        let id = uuid::Uuid::now_v7();
        let sku = format!("SKU-{}", id.simple());
        let mut conn = AsyncPgConnection::establish(&self.database_url).await.unwrap();
        let product = NewProduct {
            id,
            sku: &sku,
            name: "Test mug",
            description: "",
            category_id: None,
            price_minor,
            currency: "EUR",
            attributes: serde_json::json!({ "colour": "blue" }),
            on_hand,
        };
        insert(&mut conn, product).await.unwrap();
        id
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
    settings.kafka.events_topic = format!("test.{}.product.events.v1", uuid::Uuid::now_v7().simple());
    let auth_key = std::sync::Arc::new(TestKey::generate("test-key-1"));
    let jwks = JwksServer::start(&[&auth_key]);
    settings.auth.jwks_url = jwks.url.clone();
    settings.auth.grpc_url = jwks.grpc_url.clone();
    settings.tls.dir = PKI.dir("product-service");
    customise(&mut settings);
    let events_topic = settings.kafka.events_topic.clone();
    if settings.kafka.brokers == kafka_brokers() {
        crate::kafka::create_topics(&settings.kafka.brokers, &[&events_topic]).await;
    }
    // Wait for the schema unless the test pointed the service at another (unreachable) server.
    let server = admin_database_url().rsplit_once('/').map(|(base, _)| base.to_owned()).unwrap_or_default();
    let own_database = secrecy::ExposeSecret::expose_secret(&settings.database.url).starts_with(&server);

    let app = Application::build(settings).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.http_port());
    let grpc_port = app.grpc_port();
    tokio::spawn(app.run_until_stopped());
    let app =
        TestApp { address, grpc_port, database_url, client: reqwest::Client::new(), events_topic, auth_key, jwks };
    (app, own_database)
}

const TEST_DATABASE_PREFIX: &str = "product_test_";

/// Creates an empty database with a random name and returns its URL.
pub async fn create_database() -> String {
    let admin = admin_database_url();
    let name = format!("{TEST_DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
    let mut conn = AsyncPgConnection::establish(&admin).await.expect("the test database login connects");
    STALE_DATABASES_DROPPED.get_or_init(|| drop_stale_databases(&mut conn)).await;
    diesel::sql_query(format!(r#"CREATE DATABASE "{name}""#)).execute(&mut conn).await.expect("database created");
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
async fn drop_stale_databases(conn: &mut AsyncPgConnection) {
    let names: Vec<DatabaseName> =
        diesel::sql_query(format!("SELECT datname FROM pg_database WHERE datname LIKE '{TEST_DATABASE_PREFIX}%'"))
            .load(conn)
            .await
            .unwrap_or_default();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let hour_ago = hour_ago.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    for DatabaseName { datname } in names {
        let created_ms =
            datname.strip_prefix(TEST_DATABASE_PREFIX).and_then(|uuid| u128::from_str_radix(uuid.get(..12)?, 16).ok());
        if created_ms.is_some_and(|ms| ms < hour_ago) {
            let _ =
                diesel::sql_query(format!(r#"DROP DATABASE IF EXISTS "{datname}" WITH (FORCE)"#)).execute(conn).await;
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

/// Runs a `SELECT count(*)::bigint AS n ...` query.
pub async fn count(database_url: &str, sql: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
    diesel::sql_query(sql).get_result::<Count>(&mut conn).await.unwrap().n
}

/// Runs a statement the service would not (a test that plants a fault).
pub async fn execute(database_url: &str, sql: &str) {
    let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
    diesel::sql_query(sql).execute(&mut conn).await.unwrap();
}
