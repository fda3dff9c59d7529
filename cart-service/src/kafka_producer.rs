//! A Kafka producer whose deliveries are awaited, with its events polled on a thread of its own
//! that sleeps while nothing happens.
//!
//! rdkafka's `FutureProducer` polls on a thread that waits for events 100 ms at a time. Each wait
//! ends by asking librdkafka again and again with no wait at all: rdkafka passes what is left of
//! the 100 ms in whole milliseconds, truncated, so its last millisecond becomes zero-length
//! polls in a busy loop (rdkafka 0.38 and 0.39, `BaseProducer::poll`). That was ~1.5 % of a core
//! per producer, all the time: 6 % of a core for an idle platform, two thirds of what its four
//! services used at rest (loadgen/README.md, "Idle CPU"). Here the thread waits a second at a
//! time: the same busy millisecond a second. An event still ends the wait the moment it comes,
//! so a delivery is reported as soon as the broker acknowledges it.
//!
//! The thread holds the producer only while it waits: when the last clone is dropped, the
//! thread ends within `POLL_WAIT` and drops the producer (which purges and reports what is left).
use rdkafka::{
    client::{Client, ClientContext},
    config::ClientConfig,
    error::{KafkaError, KafkaResult, RDKafkaErrorCode},
    message::{Message, ToBytes},
    producer::{
        future_producer::{Delivery, OwnedDeliveryResult},
        BaseProducer, BaseRecord, DeliveryResult, FutureRecord, Producer as _, ProducerContext,
    },
};
use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

/// How long one poll waits for an event: how long after the last clone is dropped the thread
/// still lives, and the busy millisecond's share of the thread's time.
const POLL_WAIT: Duration = Duration::from_secs(1);
/// librdkafka's queue is full: how long `send` waits before offering a record again.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(100);

/// A record's delivery: the broker's acknowledgement, or why it was not delivered. An error
/// from the channel itself means the producer was dropped without reporting the record.
pub type DeliveryFuture = oneshot::Receiver<OwnedDeliveryResult>;

#[derive(Clone)]
pub struct KafkaProducer {
    base: Arc<BaseProducer<Deliveries>>,
}

impl KafkaProducer {
    /// Creating the client does not connect; librdkafka connects in the background.
    pub fn create(config: &ClientConfig) -> KafkaResult<Self> {
        let base = Arc::new(config.create_with_context::<_, BaseProducer<Deliveries>>(Deliveries)?);
        let polled = Arc::downgrade(&base);
        std::thread::Builder::new()
            .name("kafka-deliveries".to_owned())
            .spawn(move || poll_while_used(&polled))
            .map_err(|error| KafkaError::ClientCreation(format!("starting the producer's polling thread: {error}")))?;
        Ok(Self { base })
    }

    /// Queues `record`: the future resolves when the broker acknowledged it, or it failed. A
    /// full queue refuses it at once (`RDKafkaErrorCode::QueueFull`) and hands it back.
    #[allow(clippy::result_large_err)] // the record handed back, as rdkafka's own producers do
    pub fn send_result<'a, K, P>(
        &self,
        record: FutureRecord<'a, K, P>,
    ) -> Result<DeliveryFuture, (KafkaError, FutureRecord<'a, K, P>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let (reported, delivery) = oneshot::channel();
        let base = BaseRecord {
            topic: record.topic,
            partition: record.partition,
            payload: record.payload,
            key: record.key,
            timestamp: record.timestamp,
            headers: record.headers,
            delivery_opaque: Box::new(reported),
        };
        self.base.send(base).map(|()| delivery).map_err(|(error, base)| {
            let record = FutureRecord {
                topic: base.topic,
                partition: base.partition,
                payload: base.payload,
                key: base.key,
                timestamp: base.timestamp,
                headers: base.headers,
            };
            (error, record)
        })
    }

    /// Sends `record` and waits for its acknowledgement; a full queue is tried again for up to
    /// `queue_timeout`.
    pub async fn send<K, P>(
        &self,
        mut record: FutureRecord<'_, K, P>,
        queue_timeout: Duration,
    ) -> anyhow::Result<Delivery>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let started = Instant::now();
        let delivery = loop {
            match self.send_result(record) {
                Ok(delivery) => break delivery,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), refused))
                    if started.elapsed() < queue_timeout =>
                {
                    record = refused;
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((error, _)) => return Err(error.into()),
            }
        };
        match delivery.await {
            Ok(Ok(delivered)) => Ok(delivered),
            Ok(Err((error, _))) => Err(error.into()),
            Err(_) => Err(anyhow::anyhow!("the Kafka producer was dropped before reporting the record")),
        }
    }

    /// The librdkafka client: metadata, fatal errors.
    pub fn client(&self) -> &Client<Deliveries> {
        self.base.client()
    }
}

/// The polling thread: waits for events while anybody still holds the producer.
fn poll_while_used(producer: &Weak<BaseProducer<Deliveries>>) {
    while let Some(producer) = producer.upgrade() {
        producer.poll(POLL_WAIT);
    }
}

/// Reports each record's delivery to whoever awaits it.
pub struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<oneshot::Sender<OwnedDeliveryResult>>;

    fn delivery(&self, result: &DeliveryResult<'_>, reported: Self::DeliveryOpaque) {
        let owned = match result {
            Ok(message) => Ok(Delivery {
                partition: message.partition(),
                offset: message.offset(),
                timestamp: message.timestamp(),
            }),
            Err((error, message)) => Err((error.clone(), message.detach())),
        };
        // Nobody waits for it any more (a relay round that timed out): nothing to tell.
        let _ = reported.send(owned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process's threads named as the polling thread (the kernel keeps 15 bytes of a name).
    fn polling_threads() -> usize {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap();
        tasks
            .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
            .filter(|name| name.trim_end() == "kafka-deliverie")
            .count()
    }

    fn wait_for_polling_threads(wanted: usize) -> usize {
        let deadline = Instant::now() + POLL_WAIT * 5;
        while polling_threads() != wanted && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        polling_threads()
    }

    /// No other test of this binary makes a `KafkaProducer`, so the count is this test's own.
    #[test]
    fn the_polling_thread_lives_as_long_as_a_clone_and_ends_after_the_last() {
        // Nothing listens there: creating the client connects to nothing yet.
        let config = ClientConfig::new().set("bootstrap.servers", "127.0.0.1:1").clone();
        let producer = KafkaProducer::create(&config).unwrap();
        assert_eq!(wait_for_polling_threads(1), 1);
        let clone = producer.clone();
        drop(producer);
        std::thread::sleep(POLL_WAIT * 2);
        assert_eq!(polling_threads(), 1, "a clone still uses the producer");
        drop(clone);
        assert_eq!(wait_for_polling_threads(0), 0, "the thread outlived the producer");
    }
}
