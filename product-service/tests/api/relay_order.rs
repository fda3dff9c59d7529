//! Two outbox relays on one database — the Helm chart runs two replicas — publish every
//! aggregate's events in outbox order, none missing. With rows claimed by `FOR UPDATE SKIP
//! LOCKED` the second replica published the rows behind the first one's batch while that batch
//! was still in flight, so an older stock level could overwrite a newer one.
use crate::helpers::{closed_port, count, create_database, kafka_brokers};
use diesel_async::{scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection};
use product_service::{
    configuration::Settings,
    db,
    error::ProductError,
    events::{outbox, relay::Relay},
    kafka::Kafka,
    metrics::Metrics,
    proto::shop::events::v1::Envelope,
};
use prost::Message as _;
use rdkafka::Message as _;
use secrecy::SecretString;
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::{watch, Notify};

const KEYS: usize = 5;
const EVENTS: usize = 300;
/// Small batches: many rounds, so the two relays overlap often.
const BATCH: i64 = 3;

/// Settings for a migrated database of this test's own, and a topic of its own.
async fn setup() -> (Settings, String, String) {
    let database_url = create_database().await;
    let topic = format!("test.{}.product.relay-order.v1", uuid::Uuid::now_v7().simple());
    crate::kafka::create_topics(&kafka_brokers(), &[&topic]).await;
    let mut settings = Settings::from_vars(Vec::new()).expect("defaults are valid");
    settings.database.url = SecretString::from(database_url.clone());
    settings.kafka.brokers = kafka_brokers();
    db::run_migrations(&settings.database).await.unwrap();
    (settings, database_url, topic)
}

/// A relay replica: its own pool and its own producer, as another process would have.
fn replica(settings: &Settings, send_timeout: Duration) -> Relay {
    Relay {
        pool: db::build_pool(&settings.database).unwrap(),
        producer: Kafka::new(&settings.kafka).unwrap().outbox_producer().unwrap(),
        metrics: Metrics::new().unwrap(),
        wake: Arc::new(Notify::new()),
        idle_poll: Duration::from_millis(20),
        send_timeout,
    }
}

/// Commits one event per key of `keys`, each in a transaction of its own; returns the event ids.
async fn enqueue(database_url: &str, topic: &str, keys: &[String]) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
    let mut ids = Vec::new();
    for key in keys {
        let id = conn
            .transaction::<_, ProductError, _>(|conn| {
                async move { outbox::enqueue(conn, topic, key, "RelayOrderTest", &()).await }.scope_boxed()
            })
            .await
            .unwrap();
        ids.push(id.to_string());
    }
    ids
}

/// Whether a session holds the relay lease of the database.
async fn lease_held(database_url: &str) -> bool {
    // The relay takes no other advisory lock (they are scoped to the database).
    let held = "SELECT count(*)::bigint AS n FROM pg_locks WHERE locktype = 'advisory' AND granted \
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    count(database_url, held).await == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_publish_each_aggregate_in_outbox_order() {
    let (settings, database_url, topic) = setup().await;

    // Two replicas: each with its own pool and its own producer, as two processes would have.
    let (stop_relays, stop) = watch::channel(false);
    let mut wakes = Vec::new();
    let mut relays = Vec::new();
    for _ in 0..2 {
        let relay = replica(&settings, Duration::from_secs(30));
        wakes.push(Arc::clone(&relay.wake));
        relays.push(tokio::spawn(relay.run_in_batches_of(BATCH, stop.clone())));
    }

    // Events committed while the relays run: one to four per transaction, keys interleaved.
    let keys: Vec<String> = (0..KEYS).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    let mut conn = AsyncPgConnection::establish(&database_url).await.unwrap();
    let mut written = 0;
    let mut round = 0;
    while written < EVENTS {
        let in_transaction = (1 + round % 4).min(EVENTS - written);
        let picked: Vec<&String> = (0..in_transaction).map(|n| &keys[(round * 3 + n * 2) % KEYS]).collect();
        let topic = topic.as_str();
        let ids = conn
            .transaction::<_, ProductError, _>(|conn| {
                async move {
                    let mut ids = Vec::new();
                    for key in picked {
                        let id = outbox::enqueue(conn, topic, key, "RelayOrderTest", &()).await?;
                        ids.push((key.clone(), id.to_string()));
                    }
                    Ok(ids)
                }
                .scope_boxed()
            })
            .await
            .unwrap();
        for (key, id) in ids {
            expected.entry(key).or_default().push(id);
        }
        written += in_transaction;
        round += 1;
        wakes.iter().for_each(|wake| wake.notify_one());
        if round % 5 == 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }

    let messages = crate::kafka::read(&kafka_brokers(), &topic, EVENTS, Duration::from_secs(60)).await;
    stop_relays.send_replace(true);
    for relay in relays {
        relay.await.unwrap();
    }

    // Per key, the events in the order the topic holds them (a repeat, which consumers drop by
    // event id, counts where it first appeared).
    let mut published: HashMap<String, Vec<String>> = HashMap::new();
    let mut records: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for message in &messages {
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        let envelope = Envelope::decode(message.payload().unwrap()).unwrap();
        records.entry(key.clone()).or_default().push((message.offset(), envelope.event_id.clone()));
        let seen = published.entry(key).or_default();
        if !seen.contains(&envelope.event_id) {
            seen.push(envelope.event_id);
        }
    }
    for key in &keys {
        let want = &expected[key];
        let got = published.get(key).cloned().unwrap_or_default();
        // On failure: every record of the key as offset:place-in-enqueue-order.
        let places: Vec<String> = records
            .get(key)
            .into_iter()
            .flatten()
            .map(|(offset, id)| format!("{offset}:{:?}", want.iter().position(|w| w == id)))
            .collect();
        assert!(
            &got == want,
            "key {key}: {} of {} events published, {} records on the topic in all; records of the key: {}",
            got.len(),
            want.len(),
            messages.len(),
            places.join(" ")
        );
    }
    let unsent = count(&database_url, "SELECT count(*)::bigint AS n FROM outbox WHERE sent_at IS NULL").await;
    assert_eq!(unsent, 0, "every row is marked sent");
}

/// The scenario of a broker that one replica cannot reach: the other one does not wait behind
/// it (no lock wait, no error), and once the first gives up every row goes out, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_skips_its_round_while_another_holds_the_lease() {
    let (settings, database_url, topic) = setup().await;
    let key = uuid::Uuid::now_v7().to_string();
    let ids = enqueue(&database_url, &topic, &vec![key.clone(); 10]).await;

    let mut unreachable = settings.clone();
    unreachable.kafka.brokers = format!("127.0.0.1:{}", closed_port());
    let stuck = replica(&unreachable, Duration::from_secs(3));
    let stuck = tokio::spawn(async move { stuck.publish_batch(100).await });
    for _ in 0..100 {
        if lease_held(&database_url).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(lease_held(&database_url).await, "the replica without a broker holds the lease");

    let healthy = replica(&settings, Duration::from_secs(30));
    let started = std::time::Instant::now();
    assert_eq!(healthy.publish_batch(100).await.unwrap(), 0, "the lease is taken: the round is skipped");
    assert!(started.elapsed() < Duration::from_secs(1), "skipping did not wait: {:?}", started.elapsed());

    let error = stuck.await.unwrap().expect_err("nothing was acknowledged");
    assert!(format!("{error:#}").contains("not acknowledged"), "{error:#}");
    assert!(!lease_held(&database_url).await, "the lease is freed after a failed round");
    assert_eq!(healthy.publish_batch(100).await.unwrap(), 10);

    let messages = crate::kafka::read(&kafka_brokers(), &topic, ids.len(), Duration::from_secs(30)).await;
    let published: Vec<String> =
        messages.iter().map(|m| Envelope::decode(m.payload().unwrap()).unwrap().event_id).collect();
    assert_eq!(published, ids);
}

/// The schema of a topic whose contract moved on without this build: `event_id` became a
/// number, so the Envelope this build writes (`event_id` text) does not decode.
const MOVED_ON: &str = "syntax = \"proto3\";\nmessage Value {\n  int64 event_id = 1;\n}\n";
/// The Envelope, as infra/local/registry.py writes it for every topic.
const ENVELOPE: &str = "syntax = \"proto3\";\nimport \"google/protobuf/timestamp.proto\";\n\
    message Value {\n  string event_id = 1;\n  string event_type = 2;\n  \
    google.protobuf.Timestamp occurred_at = 3;\n  string producer = 4;\n  string aggregate_id = 5;\n  \
    bytes payload = 6;\n}\n";

/// A broker whose schema registry refuses this build's records on one topic (`MOVED_ON`) and
/// takes them on another: the refused row and every row after it stay in the outbox, whatever
/// their topic; each round that stops there is counted as `refused` (also when the producer,
/// turned fatal by the refusal, failed an earlier row of the other topic first); behind the
/// refused row only that row is tried; the broker goes on serving (the relay's producer is
/// gapless and made again: an epoch bump would make tansu panic); once the schema takes the
/// Envelope every row goes out, each topic in outbox order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_the_broker_refuses_stay_in_the_outbox_and_are_counted_until_it_takes_them() {
    let (mut settings, database_url, _) = setup().await;
    let broker = crate::kafka::ThrowawayBroker::with_registry(crate::helpers::free_port());
    let run = uuid::Uuid::now_v7().simple();
    let (taken, refused) = (format!("test.{run}.product.taken.v1"), format!("test.{run}.product.refused.v1"));
    crate::kafka::create_topics(&broker.address, &[&taken, &refused]).await;
    std::fs::write(broker.registry().join(format!("{taken}.proto")), ENVELOPE).unwrap();
    let schema = broker.registry().join(format!("{refused}.proto"));
    std::fs::write(&schema, MOVED_ON).unwrap();
    settings.kafka.brokers = broker.address.clone();
    let key = uuid::Uuid::now_v7().to_string();
    let mut ids = enqueue(&database_url, &taken, std::slice::from_ref(&key)).await;
    ids.extend(enqueue(&database_url, &refused, std::slice::from_ref(&key)).await);
    ids.extend(enqueue(&database_url, &taken, std::slice::from_ref(&key)).await);
    let relay = replica(&settings, Duration::from_secs(10));
    let unsent_ids = "SELECT count(*)::bigint AS n FROM outbox WHERE sent_at IS NULL";
    let refused_rounds = |round: usize| format!("outbox_publish_failures_total{{reason=\"refused\"}} {round}");

    // The first round may publish the row before the refused one (or lose it to the fatal
    // producer); it never marks the refused row or the one after it.
    let _ = relay.publish_batch(100).await;
    assert!(count(&database_url, unsent_ids).await >= 2, "a row at or after the refused one was marked sent");
    assert!(relay.metrics.render().contains(&refused_rounds(1)), "{}", relay.metrics.render());
    for round in 2..=3 {
        let error = relay.publish_batch(100).await.expect_err("the broker took a record it must refuse");
        assert!(format!("{error:#}").contains("validate record"), "round {round}: {error:#}");
        assert_eq!(count(&database_url, unsent_ids).await, 2, "round {round}");
        let exposition = relay.metrics.render();
        assert!(
            exposition.contains(&refused_rounds(round)),
            "round {round}, no `{}` in:\n{exposition}",
            refused_rounds(round)
        );
    }

    std::fs::write(&schema, ENVELOPE).unwrap();
    while relay.publish_batch(100).await.expect("every row passes the registry now") > 0 {}
    assert_eq!(count(&database_url, unsent_ids).await, 0);
    // Per topic, each event once in outbox order (a row sent in a stopped round may come twice;
    // consumers drop the repeat by event id).
    for (topic, want) in [(&taken, vec![ids[0].clone(), ids[2].clone()]), (&refused, vec![ids[1].clone()])] {
        let messages = crate::kafka::read(&broker.address, topic, want.len(), Duration::from_secs(30)).await;
        let mut published: Vec<String> = Vec::new();
        for message in &messages {
            let id = Envelope::decode(message.payload().unwrap()).unwrap().event_id;
            if !published.contains(&id) {
                published.push(id);
            }
        }
        assert_eq!(published, want, "{topic}");
    }
}
