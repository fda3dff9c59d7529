//! The producer whose deliveries are awaited (`kafka_producer`), against the real broker.
use crate::{
    helpers::kafka_brokers,
    kafka::{create_topics, read},
};
use payment_service::kafka_producer::KafkaProducer;
use rdkafka::{error::KafkaError, producer::FutureRecord, types::RDKafkaErrorCode, ClientConfig, Message};
use std::time::Duration;

fn producer(brokers: &str) -> (KafkaProducer, ClientConfig) {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    (KafkaProducer::create(&config).unwrap(), config)
}

#[tokio::test]
async fn each_record_is_acknowledged_with_its_offset_in_the_order_sent() {
    let brokers = kafka_brokers();
    let topic = format!("kafka-producer-{}", uuid::Uuid::now_v7().simple());
    create_topics(&brokers, &[&topic]).await;
    let (producer, _) = producer(&brokers);

    let first = producer.send_result(FutureRecord::to(&topic).key("k").payload("one")).unwrap();
    let second = producer.send_result(FutureRecord::to(&topic).key("k").payload("two")).unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), first).await.unwrap().unwrap().unwrap();
    let second = tokio::time::timeout(Duration::from_secs(20), second).await.unwrap().unwrap().unwrap();
    assert_eq!((first.partition, first.offset), (0, 0));
    assert_eq!((second.partition, second.offset), (0, 1));
    let third =
        producer.send(FutureRecord::to(&topic).key("k").payload("three"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(third.offset, 2);

    let records = read(&brokers, &topic, 3, Duration::from_secs(20)).await;
    let payloads: Vec<_> = records.iter().map(|r| r.payload().unwrap().to_vec()).collect();
    assert_eq!(payloads, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
}

/// Nothing listens at the address: the record times out, and its future says so (the polling
/// thread reports failures as well as acknowledgements).
#[tokio::test]
async fn a_record_that_never_reaches_a_broker_fails_its_delivery() {
    let (_, mut config) = producer("127.0.0.1:1");
    config.set("message.timeout.ms", "500");
    let producer = KafkaProducer::create(&config).unwrap();
    let delivery = producer.send_result(FutureRecord::to("nowhere").key("k").payload("lost")).unwrap();
    let failed = tokio::time::timeout(Duration::from_secs(20), delivery).await.unwrap().unwrap();
    let (error, message) = failed.unwrap_err();
    assert_eq!(error, KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut));
    assert_eq!(message.payload(), Some(&b"lost"[..]));
    let sent = producer.send(FutureRecord::to("nowhere").key("k").payload("lost"), Duration::from_secs(1)).await;
    assert!(sent.unwrap_err().to_string().contains("timed out"), "a failed delivery is an error");
}

/// A record over the client's size limit is refused before it is queued, and handed back.
#[tokio::test]
async fn a_refused_record_is_handed_back() {
    let (_, mut config) = producer(&kafka_brokers());
    config.set("message.max.bytes", "1000");
    let producer = KafkaProducer::create(&config).unwrap();
    let payload = vec![7u8; 4000];
    let (error, record) = producer.send_result(FutureRecord::to("anywhere").key("k").payload(&payload)).unwrap_err();
    assert_eq!(error, KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge));
    assert_eq!(record.payload, Some(&payload));
}
