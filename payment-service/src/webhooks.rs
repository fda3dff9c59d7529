//! Stripe webhooks: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`,
//! verified in constant time with the endpoint's signing secret and refused outside the
//! timestamp tolerance (replays of an old, validly signed event). A verified event moves a
//! pending payment or refund to its final state; an event id seen before changes nothing.
use crate::{
    error::PaymentError,
    gateway::{stripe, Outcome},
    payments::Payments,
    settlement,
    store::{
        self as stores,
        payments::{self as store, PaymentRow},
        refunds::{self, RefundRow},
        webhooks,
    },
};
use chrono::{NaiveDateTime, Utc};
use ring::hmac;
use scoped_futures::ScopedFutureExt;
use serde::Deserialize;
use std::time::Duration;

/// Checks the signature header against the raw body.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &[u8],
    tolerance: Duration,
    now_unix: i64,
) -> Result<(), PaymentError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.extend(hex_decode(sig)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(PaymentError::WebhookRefused("the signature header has no timestamp"))?;
    if (now_unix - timestamp).unsigned_abs() > tolerance.as_secs() {
        return Err(PaymentError::WebhookRefused("the timestamp is outside the tolerance"));
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let signed = [timestamp.to_string().as_bytes(), b".", body].concat();
    // ring's verify compares in constant time.
    if signatures.iter().any(|sig| hmac::verify(&key, &signed, sig).is_ok()) {
        Ok(())
    } else {
        Err(PaymentError::WebhookRefused("no valid v1 signature"))
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: EventObject,
}

/// A PaymentIntent or a Refund.
#[derive(Debug, Deserialize)]
struct EventObject {
    id: String,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    last_payment_error: Option<stripe::ErrorBody>,
    #[serde(default)]
    status: Option<String>,
    /// A failed refund's reason.
    #[serde(default)]
    failure_reason: Option<String>,
    /// Minor units and lower-case ISO 4217 code, as Stripe writes them.
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
}

impl EventObject {
    /// Whether this PaymentIntent is the one charged for `payment`: its reference (once the
    /// gateway's answer stored it), its amount and its currency. Metadata alone is not enough:
    /// anything that can create a PaymentIntent on the account can write any payment id there.
    fn is_the_charge_of(&self, payment: &PaymentRow) -> bool {
        payment.gateway_reference.as_deref().is_none_or(|reference| reference == self.id)
            && self.amount == Some(payment.amount_minor)
            && self.currency.as_deref().is_some_and(|currency| currency.eq_ignore_ascii_case(&payment.currency))
    }

    /// Whether this Refund is `refund`: its reference (once the gateway's answer stored it), its
    /// amount and its currency. A reference or metadata alone is not enough, as for charges: an
    /// event about another amount would settle this refund's.
    fn is_the_refund_of(&self, refund: &RefundRow) -> bool {
        refund.gateway_reference.as_deref().is_none_or(|reference| reference == self.id)
            && self.amount == Some(refund.amount_minor)
            && self.currency.as_deref().is_some_and(|currency| currency.eq_ignore_ascii_case(&refund.currency))
    }
}

/// What an event settles.
enum Settles {
    /// The payment of a PaymentIntent (`metadata.payment_id`, else its reference).
    Charge(Outcome),
    /// The refund of a Refund (`metadata.refund_id`, else its reference).
    Refund(Outcome),
}

/// What applying a verified event did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The event id was seen before.
    Duplicate,
    /// Recorded; it settled a payment, or concerned nothing this service tracks.
    Recorded,
}

/// Applies a verified event body: once per event id, in one transaction with what it settles.
pub async fn apply(payments: &Payments, body: &[u8]) -> Result<Applied, PaymentError> {
    let (event, settles) = read_event(body)?;
    let topic = payments.events_topic();
    let mut conn = payments.db().conn().await?;
    let applied = stores::transaction::<_, PaymentError, _>(&mut conn, |conn| {
        async move {
            let now = Utc::now().naive_utc();
            if !webhooks::first_delivery(conn, &event.id, now).await? {
                return Ok(Applied::Duplicate);
            }
            let retry = settlement::retry_at(now, 0);
            match settles {
                None => {}
                Some(Settles::Charge(outcome)) => settle_charge(conn, topic, &event, outcome, now, retry).await?,
                Some(Settles::Refund(outcome)) => settle_refund(conn, topic, &event, outcome, now, retry).await?,
            }
            Ok(Applied::Recorded)
        }
        .scope_boxed()
    })
    .await?;
    payments.outbox_ready().notify_one();
    Ok(applied)
}

/// The event and what it settles, if anything this service tracks.
fn read_event(body: &[u8]) -> Result<(Event, Option<Settles>), PaymentError> {
    let mut event: Event =
        serde_json::from_slice(body).map_err(|_| PaymentError::WebhookRefused("the body is not a Stripe event"))?;
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(PaymentError::WebhookRefused("the event id is missing or too long"));
    }
    let object = &mut event.data.object;
    let settles = match event.kind.as_str() {
        "payment_intent.succeeded" => Some(Settles::Charge(Outcome::Succeeded { reference: object.id.clone() })),
        "payment_intent.payment_failed" => {
            Some(Settles::Charge(stripe::failed(object.id.clone(), object.last_payment_error.take())))
        }
        // The object is the Refund as it stands now: its status says whether it is done,
        // failed (the amount may be refunded again) or still pending.
        "refund.created" | "refund.updated" | "charge.refund.updated" | "refund.failed" => {
            let status = object.status.clone().or_else(|| (event.kind == "refund.failed").then(|| "failed".to_owned()));
            status.map(|status| {
                Settles::Refund(stripe::refund_outcome(object.id.clone(), &status, object.failure_reason.take()))
            })
        }
        _ => None,
    };
    Ok((event, settles))
}

/// Settles the payment of the event's PaymentIntent, found by `metadata.payment_id` or else its
/// reference, when the PaymentIntent is that payment's charge.
async fn settle_charge(
    conn: &mut stores::Conn,
    topic: &str,
    event: &Event,
    outcome: Outcome,
    now: NaiveDateTime,
    retry: NaiveDateTime,
) -> Result<(), PaymentError> {
    let object = &event.data.object;
    let payment_id = match object.metadata.get("payment_id") {
        Some(id) => Some(id.clone()),
        None => store::find_by_reference(conn, &object.id).await?,
    };
    let payment = match payment_id {
        Some(id) => store::find(conn, &id).await?,
        None => None,
    };
    match payment {
        Some(payment) if object.is_the_charge_of(&payment) => {
            settlement::apply_charge(conn, topic, &payment.id, Ok(outcome), now, retry).await?
        }
        Some(payment) => tracing::warn!(
            event_id = event.id,
            payment_id = payment.id,
            "a webhook whose PaymentIntent is not this payment's (reference, amount or currency differ): not settled"
        ),
        None => tracing::info!(event_id = event.id, "webhook for a payment this service does not know"),
    }
    Ok(())
}

/// Settles the refund of the event's Refund, found by `metadata.refund_id` or else its reference.
async fn settle_refund(
    conn: &mut stores::Conn,
    topic: &str,
    event: &Event,
    outcome: Outcome,
    now: NaiveDateTime,
    retry: NaiveDateTime,
) -> Result<(), PaymentError> {
    let object = &event.data.object;
    let refund = match object.metadata.get("refund_id") {
        Some(id) => refunds::find(conn, id).await?,
        None => refunds::find_by_reference(conn, &object.id).await?,
    };
    match refund {
        Some(refund) if object.is_the_refund_of(&refund) => {
            settlement::apply_refund(conn, topic, &refund, Ok(outcome), now, retry).await?
        }
        Some(refund) => tracing::warn!(
            event_id = event.id,
            refund_id = refund.id,
            "a webhook whose Refund is not this refund's (reference, amount or currency differ): not settled"
        ),
        None => tracing::info!(event_id = event.id, "webhook for a refund this service does not know"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hmac::sign(&key, &[t.to_string().as_bytes(), b".", body].concat());
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_correct_signature_within_tolerance_passes() {
        let body = br#"{"id":"evt_1"}"#;
        let header = format!("t=1000,v1={}", sign(b"whsec_test", 1000, body));
        assert!(verify_signature(&header, body, b"whsec_test", Duration::from_secs(300), 1100).is_ok());
    }

    #[test]
    fn wrong_secret_tampered_body_old_timestamp_and_garbage_are_refused() {
        let body = br#"{"id":"evt_1"}"#;
        let header = format!("t=1000,v1={}", sign(b"whsec_test", 1000, body));
        let tolerance = Duration::from_secs(300);
        assert!(verify_signature(&header, body, b"another", tolerance, 1000).is_err());
        assert!(verify_signature(&header, br#"{"id":"evt_2"}"#, b"whsec_test", tolerance, 1000).is_err());
        assert!(verify_signature(&header, body, b"whsec_test", tolerance, 1000 + 301).is_err());
        assert!(verify_signature("v1=zz", body, b"whsec_test", tolerance, 1000).is_err());
        assert!(verify_signature("", body, b"whsec_test", tolerance, 1000).is_err());
    }
}
