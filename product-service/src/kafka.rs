//! The Kafka clients of this service: a producer that answers readiness (can the brokers be
//! reached), and the outbox relay's own (`events::producer`).
use crate::configuration::KafkaSettings;
use crate::events::producer::OutboxProducer;
use crate::kafka_producer::KafkaProducer;
use anyhow::Context;
use rdkafka::ClientConfig;

#[derive(Clone)]
pub struct Kafka {
    producer: KafkaProducer,
    settings: KafkaSettings,
}

impl Kafka {
    /// Creating the client does not connect; librdkafka connects in the background.
    pub fn new(settings: &KafkaSettings) -> anyhow::Result<Self> {
        let producer = KafkaProducer::create(&producer_config(settings)).context("creating the Kafka producer")?;
        Ok(Self { producer, settings: settings.clone() })
    }

    /// The outbox relay's producer, apart from the one readiness asks through.
    pub fn outbox_producer(&self) -> anyhow::Result<OutboxProducer> {
        OutboxProducer::new(producer_config(&self.settings))
    }

    /// Asks the brokers, within the configured timeout, about one topic: the topic it produces.
    /// That they answer is what readiness needs. Never the whole cluster's metadata: a shared
    /// cluster holds thousands of topics, and with 16,000 every check (a load balancer's, each
    /// second) parsed 14 MiB of it and kept the broker busy describing them (loadgen/README.md,
    /// "Idle memory").
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.described_topics().await.map(|_| ())
    }

    /// The topics the brokers described to `ping`.
    pub async fn described_topics(&self) -> anyhow::Result<Vec<String>> {
        let producer = self.producer.clone();
        let (topic, timeout) = (self.settings.events_topic.clone(), self.settings.timeout);
        // fetch_metadata blocks the calling thread.
        tokio::task::spawn_blocking(move || {
            let metadata = producer.client().fetch_metadata(Some(&topic), timeout)?;
            Ok::<_, rdkafka::error::KafkaError>(metadata.topics().iter().map(|t| t.name().to_owned()).collect())
        })
        .await
        .context("the Kafka metadata task died")?
        .context("Kafka brokers unreachable")
    }
}

/// What every producer of this service starts from, the relay's (`events::producer`, which
/// adds idempotence) included. Five minutes before a message times out: an idempotent producer
/// bumps its epoch when one does, and tansu 0.6 (the local broker) then panics on the unknown
/// epoch and serves nothing more until restarted (seen killing it for 30 s under load). So a
/// broker outage shorter than that times nothing out; the relay's own deadline still bounds each
/// batch (its rows are sent again, consumers drop repeats). Not idempotent itself: what this
/// service's other producer sends (dead-letter records, readiness) is evidence, not events, and
/// a repeat of one harms nothing, while an epoch bump would stop the broker.
fn producer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = client_config(settings);
    config.set("message.timeout.ms", "300000");
    config
}

/// What every client of this service starts from: the brokers, its name and how it
/// authenticates (`KafkaSecurity`).
fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.brokers).set("client.id", crate::SERVICE_NAME);
    for (key, value) in settings.security.client_properties() {
        config.set(key, value);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::client_config;
    use crate::configuration::{KafkaSecurity, SaslMechanism, SecurityProtocol, Settings};
    use rdkafka::producer::BaseProducer;

    /// librdkafka refuses, at creation, a protocol or mechanism it was built without: this
    /// build must take a cluster's SASL_SSL with SCRAM (no broker is contacted).
    #[test]
    fn a_sasl_ssl_client_can_be_created() {
        let mut kafka = Settings::from_vars(Vec::new()).unwrap().kafka;
        kafka.security = KafkaSecurity {
            protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
            sasl_username: Some("svc".to_owned()),
            sasl_password: Some(secrecy::SecretString::from("pw")),
            ca_location: None,
        };
        let created = client_config(&kafka).create::<BaseProducer>();
        assert!(created.is_ok(), "{:?}", created.err());
    }
}
