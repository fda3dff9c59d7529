//! Kafka helpers for tests: topics and a reader.
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{Consumer, StreamConsumer},
    message::OwnedMessage,
    ClientConfig,
};
use std::time::Duration;

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
