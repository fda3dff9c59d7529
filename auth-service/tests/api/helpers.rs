use crate::pki::{Caller, PKI};
use auth_service::{configuration::Settings, startup::Application, telemetry};
use diesel::{
    sql_types::{BigInt, Text},
    QueryableByName,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::SecretString;
use std::{sync::LazyLock, time::Duration};

/// A login allowed to create databases (infra/local gives the service's login CREATEDB).
pub fn admin_database_url() -> String {
    std::env::var("AUTH_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://auth:auth@127.0.0.1:5432/auth".to_owned())
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
    /// This test's own topics.
    pub events_topic: String,
    pub payment_events_topic: String,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request sent")
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).bearer_auth(token).send().await.expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.address)).json(body).send().await.expect("request sent")
    }

    pub async fn signup(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/v1/auth/signup", &serde_json::json!({ "email": email, "password": password })).await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/v1/auth/login", &serde_json::json!({ "email": email, "password": password })).await
    }

    /// Signs up and logs in; returns the token response.
    pub async fn signed_in(&self, email: &str, password: &str) -> serde_json::Value {
        assert_eq!(self.signup(email, password).await.status(), 201);
        let response = self.login(email, password).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// A channel to the gRPC port as cart-service, one of the services that check tokens.
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

    /// Waits until `/readyz` answers `status` (200, or 503 when a dependency is down on
    /// purpose) with the migrations applied.
    pub async fn wait_until_ready_or(&self, status: u16) {
        for _ in 0..150 {
            let response = self.get("/readyz").await;
            let code = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if code == status && !body.contains("migrations not applied") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("/readyz did not reach {status} within 15 s");
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
    settings.kafka.events_topic = format!("test.{run}.auth.events.v1");
    settings.kafka.payment_events_topic = format!("test.{run}.payment.events.v1");
    settings.kafka.group_id = format!("auth-service-test-{run}");
    settings.kafka.session_timeout = Duration::from_secs(6);
    // Tests run many logins at once; keep the throttle out of their way unless a test asks.
    settings.login.max_failures = 100;
    settings.tls.dir = PKI.dir("auth-service");
    customise(&mut settings);
    let (events_topic, payment_events_topic) =
        (settings.kafka.events_topic.clone(), settings.kafka.payment_events_topic.clone());
    if settings.kafka.brokers == kafka_brokers() {
        crate::kafka::create_topics(
            &settings.kafka.brokers,
            &[&events_topic, &payment_events_topic, &format!("{payment_events_topic}.dlq")],
        )
        .await;
    }

    // Wait for the schema unless the test pointed the service at another (unreachable) server.
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
        payment_events_topic,
    };
    (app, own_database)
}

const TEST_DATABASE_PREFIX: &str = "auth_test_";

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

/// A port nothing listens on: bound, then released.
pub fn unique_email() -> String {
    format!("shopper-{}@example.com", uuid::Uuid::now_v7().simple())
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
