//! Consumer lag per topic (`kafka_consumer_lag_messages`): the records of the partitions this
//! consumer holds that lie past the group's committed offset, what a restart would consume
//! again, the way Kafka's own tools count a group's lag. A partition another member holds counts
//! there, so the group's lag is the sum over its members.
//!
//! Sampled by a task of its own, not read from librdkafka's statistics: those are delivered by
//! the consumer's poll, and a consumer stuck on a record (its store down, a lock) polls nothing,
//! so its lag would freeze at the moment it matters.
use crate::metrics::Metrics;
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    error::KafkaResult,
    Offset,
};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::watch;

/// How often the lag is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples the lag of `consumer` on each of `topics` until `stop` turns true; each sample asks
/// the broker for the committed offsets and the high watermarks, within `timeout`.
pub async fn sample_periodically(
    consumer: Arc<StreamConsumer>,
    topics: Vec<String>,
    metrics: Metrics,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let held = Arc::clone(&consumer);
        // The client's calls block the thread until the broker answers.
        let sampled = tokio::task::spawn_blocking(move || lag_by_topic(&held, timeout))
            .await
            .map_err(|error| format!("the consumer-lag task died: {error}"))
            .and_then(|lags| lags.map_err(|error| error.to_string()));
        match sampled {
            Ok(lags) => {
                for topic in &topics {
                    metrics.set_consumer_lag(topic, lags.get(topic).copied().unwrap_or(0) as f64);
                }
            }
            // Unknown, not the last value: a stale lag would hold an alert on (or off).
            Err(error) => {
                tracing::debug!(error, "sampling the consumer lag");
                for topic in &topics {
                    metrics.set_consumer_lag(topic, f64::NAN);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Per topic, the records past the committed offset of each partition held. A partition with
/// nothing committed yet, or committed below what retention kept, starts at its low watermark
/// (`auto.offset.reset` is earliest).
fn lag_by_topic(consumer: &StreamConsumer, timeout: Duration) -> KafkaResult<HashMap<String, i64>> {
    let committed = consumer.committed_offsets(consumer.assignment()?, timeout)?;
    let mut lags = HashMap::new();
    for partition in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(partition.topic(), partition.partition(), timeout)?;
        let from = match partition.offset() {
            Offset::Offset(offset) => offset.max(low),
            _ => low,
        };
        *lags.entry(partition.topic().to_owned()).or_insert(0) += (high - from).max(0);
    }
    Ok(lags)
}
