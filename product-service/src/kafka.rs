//! The Kafka client of this service. Today it answers readiness (can the brokers be reached);
//! the outbox relay publishes through the same idempotent producer.
use crate::configuration::KafkaSettings;
use anyhow::Context;
use rdkafka::{producer::FutureProducer, ClientConfig};
use std::time::Duration;

#[derive(Clone)]
pub struct Kafka {
    producer: FutureProducer,
    timeout: Duration,
}

impl Kafka {
    /// Creating the client does not connect; librdkafka connects in the background.
    pub fn new(settings: &KafkaSettings) -> anyhow::Result<Self> {
        let producer: FutureProducer = client_config(settings)
            .set("enable.idempotence", "true")
            // librdkafka bumps an idempotent producer's epoch when a message times out, and
            // tansu 0.6 (the local broker) then panics on the unknown epoch and serves nothing
            // more until restarted (seen killing it for 30 s under load). Five minutes keeps a
            // broker outage shorter than that from timing messages out; the relay's own
            // deadline still bounds each batch (its rows are sent again, consumers drop repeats).
            .set("message.timeout.ms", "300000")
            .create()
            .context("creating the Kafka producer")?;
        Ok(Self { producer, timeout: settings.timeout })
    }

    pub fn producer(&self) -> FutureProducer {
        self.producer.clone()
    }

    /// Asks the cluster for its metadata within the configured timeout.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let producer = self.producer.clone();
        let timeout = self.timeout;
        // fetch_metadata blocks the calling thread.
        tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer;
            producer.client().fetch_metadata(None, timeout).map(|_| ())
        })
        .await
        .context("the Kafka metadata task died")?
        .context("Kafka brokers unreachable")
    }
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
