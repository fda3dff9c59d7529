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
}

impl TestApp {
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
    settings.redis.url = SecretString::from(redis_url());
    settings.kafka.brokers = kafka_brokers();
    customise(&mut settings);

    let app = Application::build(settings).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.http_port());
    tokio::spawn(app.run_until_stopped());
    TestApp { address, client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap() }
}

/// A port nothing listens on: bound, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
