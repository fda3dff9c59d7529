//! Writing events: in the same transaction as the state change they describe, so an event
//! exists exactly when its change committed. The relay publishes them later.
use crate::{
    error::AuthError,
    proto::shop::events::v1::Envelope,
    store::{
        outbox::{self, NewEvent},
        Conn,
    },
    telemetry, SERVICE_NAME,
};
use prost::Message;
use std::collections::HashMap;
use uuid::Uuid;

/// Adds an event to the outbox; call it inside the transaction of the change.
pub async fn enqueue(
    conn: &mut Conn,
    topic: &str,
    aggregate_id: &str,
    event_type: &str,
    payload: &impl Message,
) -> Result<Uuid, AuthError> {
    let event_id = Uuid::now_v7();
    let envelope = Envelope {
        event_id: event_id.to_string(),
        event_type: event_type.to_owned(),
        occurred_at: Some(std::time::SystemTime::now().into()),
        producer: SERVICE_NAME.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        payload: payload.encode_to_vec(),
    };
    let mut trace = HashMap::new();
    telemetry::inject_current(&mut trace);
    let event = NewEvent {
        event_id,
        topic,
        aggregate_id,
        event_type,
        envelope: envelope.encode_to_vec(),
        traceparent: trace.remove("traceparent"),
    };
    outbox::insert(conn, event).await?;
    Ok(event_id)
}
