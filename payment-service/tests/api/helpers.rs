use diesel::{sql_types::BigInt, QueryableByName};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use payment_service::{configuration::Settings, startup::Application, telemetry};
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
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request sent")
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    pub async fn grpc_channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.grpc_endpoint()).unwrap().connect().await.unwrap()
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

/// Starts the service with test settings, then lets `customise` change them.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TELEMETRY);
    let database_url = create_database().await;
    let mut settings = Settings::from_vars(Vec::new()).expect("defaults are valid");
    settings.http_port = 0;
    settings.grpc_port = 0;
    settings.database.url = SecretString::from(database_url.clone());
    settings.kafka.brokers = kafka_brokers();
    customise(&mut settings);

    let app = Application::build(settings).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.http_port());
    let grpc_port = app.grpc_port();
    tokio::spawn(app.run_until_stopped());
    TestApp { address, grpc_port, database_url, client: reqwest::Client::new() }
}

/// Creates an empty database with a random name and returns its URL.
pub async fn create_database() -> String {
    let admin = admin_database_url();
    let name = format!("payment_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = AsyncMysqlConnection::establish(&admin).await.expect("the test database login connects");
    diesel::sql_query(format!("CREATE DATABASE `{name}`")).execute(&mut conn).await.expect("database created");
    let base = admin.rsplit_once('/').expect("URL has a database").0;
    format!("{base}/{name}")
}

/// A port nothing listens on: bound, then released.
pub fn closed_port() -> u16 {
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
