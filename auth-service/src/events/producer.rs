//! The outbox relay's producer, made again after it failed for good.
//!
//! Idempotent and gapless. When the broker refuses a record (the schema registry's
//! INVALID_RECORD: its value is not the topic's Envelope), an idempotent producer without the
//! gapless guarantee bumps its epoch and sends the records queued behind the refused one: they
//! would overtake it, and tansu 0.6 (the local broker) panics on the epoch bump and serves
//! nothing more. Gapless, librdkafka fails every later record of the batch and turns the
//! producer fatal instead; the relay keeps those rows unsent, and `get` makes a new producer
//! for its next round. docs/adr/0022-broker-enforced-schema-registry.md.
use crate::kafka_producer::KafkaProducer;
use anyhow::Context;
use rdkafka::ClientConfig;
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Mutex, PoisonError,
};

pub struct OutboxProducer {
    config: ClientConfig,
    current: Mutex<KafkaProducer>,
    /// The broker refused the row at the head of the outbox, and has not taken it since.
    refusing: AtomicBool,
}

impl OutboxProducer {
    /// `config` is the service's producer configuration; idempotent, gapless delivery is added.
    pub fn new(mut config: ClientConfig) -> anyhow::Result<Self> {
        config.set("enable.idempotence", "true").set("enable.gapless.guarantee", "true");
        let current = KafkaProducer::create(&config).context("creating the outbox producer")?;
        Ok(Self { config, current: Mutex::new(current), refusing: AtomicBool::new(false) })
    }

    /// The producer for the next round: the current one, or a new one after it failed for good.
    pub fn get(&self) -> anyhow::Result<KafkaProducer> {
        // Nothing panics while holding the lock; a poisoned one still holds a usable producer.
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((code, reason)) = current.client().fatal_error() {
            tracing::warn!(code = ?code, reason, "the outbox producer failed for good; a new one takes over");
            *current = KafkaProducer::create(&self.config).context("creating the outbox producer")?;
        }
        Ok(current.clone())
    }

    /// Whether `producer` failed for good because the broker refused a record: the error of
    /// every row of its batch but the refused one says only that the producer is fatal.
    pub fn refused_a_record(producer: &KafkaProducer) -> bool {
        producer.client().fatal_error().is_some_and(|(_, reason)| reason.contains("failed to validate record"))
    }

    /// Whether the last round stopped at a row the broker refused.
    pub fn refusing(&self) -> bool {
        self.refusing.load(Ordering::Relaxed)
    }

    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::Relaxed);
    }
}
