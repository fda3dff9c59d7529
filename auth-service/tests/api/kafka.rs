//! Kafka helpers for tests: topics, a reader, a writer, and a throwaway broker that a test
//! may start late or kill without touching the shared one.
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{Consumer, StreamConsumer},
    message::{Header, Headers, OwnedHeaders, OwnedMessage},
    producer::{FutureProducer, FutureRecord},
    ClientConfig, Message,
};
use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

pub async fn create_topics(brokers: &str, names: &[&str]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let topics: Vec<_> = names.iter().map(|n| NewTopic::new(n, 1, TopicReplication::Fixed(1))).collect();
    let results = admin
        .create_topics(&topics, &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))))
        .await
        .expect("topics created");
    for result in results {
        if let Err((topic, code)) = result {
            assert_eq!(code, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists, "creating {topic}");
        }
    }
}

/// Reads every record of `topic` from the beginning until `wanted` are seen or `timeout`.
pub async fn read(brokers: &str, topic: &str, wanted: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", uuid::Uuid::now_v7().simple()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribed");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while seen.len() < wanted {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => seen.push(message.detach()),
            Ok(Err(error)) => panic!("reading {topic}: {error}"),
            Err(_) => break,
        }
    }
    // A short grace period to catch duplicates that would follow the wanted records.
    while let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(1500), consumer.recv()).await {
        seen.push(message.detach());
    }
    seen
}

pub async fn produce(brokers: &str, topic: &str, key: &str, payload: &[u8]) {
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", brokers).create().expect("producer");
    producer
        .send(FutureRecord::to(topic).key(key).payload(payload).headers(OwnedHeaders::new()), Duration::from_secs(10))
        .await
        .expect("record delivered");
}

pub fn header<'a>(message: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    message
        .headers()?
        .iter()
        .find(|h: &Header<'_, &[u8]>| h.key == name)?
        .value
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// A tansu broker of this test's own, on its own port, with its SQLite log in a temporary
/// folder (tansu built with `libsql` has no in-memory engine).
pub struct ThrowawayBroker {
    child: Child,
    state: std::path::PathBuf,
    pub address: String,
}

impl ThrowawayBroker {
    pub fn start(port: u16) -> Self {
        Self::launch(port, false)
    }

    /// `start`, with tansu's schema registry in `registry()`: a topic is checked once a test
    /// writes its `<topic>.proto` there (tansu reads the file on every produce).
    pub fn with_registry(port: u16) -> Self {
        Self::launch(port, true)
    }

    pub fn registry(&self) -> std::path::PathBuf {
        self.state.join("schema")
    }

    fn launch(port: u16, registry: bool) -> Self {
        let address = format!("127.0.0.1:{port}");
        let tansu = std::env::var("TANSU").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            let installed = format!("{home}/.cargo/bin/tansu");
            if std::path::Path::new(&installed).exists() {
                installed
            } else {
                "tansu".to_owned()
            }
        });
        let state = std::env::temp_dir().join(format!("tansu-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(state.join("schema")).unwrap();
        let mut command = Command::new(tansu);
        command
            .current_dir(&state)
            .args(["broker", "--listener-url", &format!("tcp://{address}"), "--advertised-listener-url"])
            .arg(format!("tcp://{address}"))
            .args(["--storage-engine", "sqlite://tansu.db"]);
        if registry {
            command.args(["--schema-registry", "file://./schema"]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts (infra/local/install.sh installs it)");
        // Owned before waiting, so a broker that never listens is still killed by Drop.
        let broker = Self { child, state, address };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&broker.address).is_ok() {
                return broker;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the throwaway broker did not listen on {}", broker.address);
    }
}

impl Drop for ThrowawayBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
