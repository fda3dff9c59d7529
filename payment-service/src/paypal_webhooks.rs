//! PayPal's webhooks: `CHECKOUT.ORDER.APPROVED` (the buyer approved: the order is looked at and
//! captured now, `approvals.rs`), `PAYMENT.CAPTURE.COMPLETED` / `.DENIED` (a capture's end) and
//! `PAYMENT.CAPTURE.REFUNDED` (a refund's end). Nothing in an event is believed before PayPal's
//! own verification call confirms that PayPal signed these exact bytes for this service's
//! webhook; an unverified event, or a type this service does not take, is refused (400) and
//! changes nothing. Each event id is applied once: a replay is answered as a duplicate.
use crate::{
    error::PaymentError,
    gateway::{
        paypal::{self, WebhookSignature},
        Outcome,
    },
    payments::Payments,
    settlement,
    store::{self as stores, payments as store, refunds, webhooks},
    webhooks::Applied,
};
use chrono::{NaiveDateTime, Utc};
use scoped_futures::ScopedFutureExt;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    event_type: String,
    resource: Resource,
}

/// The event types this service takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    OrderApproved,
    CaptureCompleted,
    CaptureDenied,
    CaptureRefunded,
}

impl Kind {
    fn of(event_type: &str) -> Option<Self> {
        match event_type {
            "CHECKOUT.ORDER.APPROVED" => Some(Self::OrderApproved),
            "PAYMENT.CAPTURE.COMPLETED" => Some(Self::CaptureCompleted),
            "PAYMENT.CAPTURE.DENIED" => Some(Self::CaptureDenied),
            "PAYMENT.CAPTURE.REFUNDED" => Some(Self::CaptureRefunded),
            _ => None,
        }
    }
}

/// An order, a capture or a refund, as far as this service reads it.
#[derive(Debug, Deserialize)]
struct Resource {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    amount: Option<Amount>,
    /// A capture's: the purchase unit's `custom_id`, the payment id.
    #[serde(default)]
    custom_id: Option<String>,
    /// A refund's: the refund id this service sent.
    #[serde(default)]
    invoice_id: Option<String>,
    #[serde(default)]
    supplementary_data: Option<Supplementary>,
}

#[derive(Debug, Deserialize)]
struct Amount {
    currency_code: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct Supplementary {
    #[serde(default)]
    related_ids: Option<RelatedIds>,
}

#[derive(Debug, Deserialize)]
struct RelatedIds {
    #[serde(default)]
    order_id: Option<String>,
}

impl Resource {
    /// Whether this is `amount_minor` of `currency`, as PayPal writes it.
    fn is_amount(&self, amount_minor: i64, currency: &str) -> bool {
        let expected = paypal::paypal_value(amount_minor, currency).ok();
        self.amount
            .as_ref()
            .is_some_and(|amount| amount.currency_code == currency && Some(&amount.value) == expected.as_ref())
    }

    fn order_id(&self) -> Option<&str> {
        self.supplementary_data.as_ref()?.related_ids.as_ref()?.order_id.as_deref()
    }
}

/// Verifies the event with PayPal, then applies it once per event id, in one transaction with
/// what it changes.
pub async fn apply(
    payments: &Payments,
    webhook_id: &str,
    signature: &WebhookSignature,
    body: &[u8],
) -> Result<Applied, PaymentError> {
    let paypal = payments.gateways().paypal.as_ref().ok_or(PaymentError::WebhookRefused("PayPal is not configured"))?;
    match paypal.gateway.api.verify_webhook(webhook_id, signature, body).await {
        Ok(true) => {}
        Ok(false) => return Err(PaymentError::WebhookRefused("PayPal did not confirm the signature")),
        Err(error) => {
            return Err(PaymentError::Unavailable(anyhow::Error::new(error).context("verifying a PayPal webhook")))
        }
    }
    let event: Event =
        serde_json::from_slice(body).map_err(|_| PaymentError::WebhookRefused("the body is not a PayPal event"))?;
    if event.id.is_empty() || event.id.len() > 200 {
        return Err(PaymentError::WebhookRefused("the event id is missing or too long"));
    }
    let kind =
        Kind::of(&event.event_type).ok_or(PaymentError::WebhookRefused("an event type this service does not take"))?;
    let topic = payments.events_topic();
    let mut conn = payments.db().conn().await?;
    let applied = stores::transaction::<_, PaymentError, _>(&mut conn, |conn| {
        let event = &event;
        async move {
            let now = Utc::now().naive_utc();
            // Stripe's event ids share the table: PayPal's are kept under their own prefix.
            if !webhooks::first_delivery(conn, &format!("paypal:{}", event.id), now).await? {
                return Ok(Applied::Duplicate);
            }
            match kind {
                Kind::OrderApproved => approved(conn, event, now).await?,
                Kind::CaptureCompleted => captured(conn, topic, event, true, now).await?,
                Kind::CaptureDenied => captured(conn, topic, event, false, now).await?,
                Kind::CaptureRefunded => refunded(conn, topic, event, now).await?,
            }
            Ok(Applied::Recorded)
        }
        .scope_boxed()
    })
    .await?;
    payments.outbox_ready().notify_one();
    Ok(applied)
}

/// The buyer approved the order: its payment is due for the reconciler now, which looks the
/// order up (the event's word is not needed) and captures it if the stock is held.
async fn approved(conn: &mut stores::Conn, event: &Event, now: NaiveDateTime) -> Result<(), PaymentError> {
    match store::find_by_reference(conn, &event.resource.id).await? {
        Some(payment_id) => store::due_now(conn, &payment_id, now).await,
        None => {
            tracing::info!(event_id = event.id, "an approval of an order this service does not know");
            Ok(())
        }
    }
}

/// A capture `completed` or was denied: settles its payment, found by the capture's `custom_id`
/// (the payment id), when the capture is that payment's (its order or capture id, its amount).
async fn captured(
    conn: &mut stores::Conn,
    topic: &str,
    event: &Event,
    completed: bool,
    now: NaiveDateTime,
) -> Result<(), PaymentError> {
    let capture = &event.resource;
    let payment = match capture.custom_id.as_deref() {
        Some(id) => store::find(conn, id).await?,
        None => None,
    };
    let Some(payment) = payment else {
        tracing::info!(event_id = event.id, "a capture of a payment this service does not know");
        return Ok(());
    };
    let ours = payment
        .gateway_reference
        .as_deref()
        .is_some_and(|reference| Some(reference) == capture.order_id() || reference == capture.id);
    if !crate::approvals::is_paypal(&payment) || !ours || !capture.is_amount(payment.amount_minor, &payment.currency) {
        tracing::warn!(
            event_id = event.id,
            payment_id = payment.id,
            "a capture that is not this payment's (order, capture or amount differ): not settled"
        );
        return Ok(());
    }
    let outcome = if completed {
        Outcome::Succeeded { reference: capture.id.clone() }
    } else {
        Outcome::Declined {
            reference: Some(capture.id.clone()),
            code: "denied".to_owned(),
            message: "PayPal denied the capture.".to_owned(),
        }
    };
    settlement::apply_charge(conn, topic, &payment.id, Ok(outcome), now, settlement::retry_at(now, 0)).await
}

/// A refund of a capture ended: settles the refund this service sent (its `invoice_id`, else
/// its reference) when the amount is the refund's. One made elsewhere (PayPal's dashboard) is
/// only logged.
async fn refunded(conn: &mut stores::Conn, topic: &str, event: &Event, now: NaiveDateTime) -> Result<(), PaymentError> {
    let resource = &event.resource;
    let refund = match resource.invoice_id.as_deref() {
        Some(id) => refunds::find(conn, id).await?,
        None => refunds::find_by_reference(conn, &resource.id).await?,
    };
    let Some(refund) = refund else {
        tracing::info!(event_id = event.id, "a refund this service did not make");
        return Ok(());
    };
    // A PayPal payment's refund: an `invoice_id` is free text anyone with the account can set.
    let of_paypal = store::find(conn, &refund.payment_id).await?.is_some_and(|p| crate::approvals::is_paypal(&p));
    let ours = refund.gateway_reference.as_deref().is_none_or(|reference| reference == resource.id);
    if !of_paypal || !ours || !resource.is_amount(refund.amount_minor, &refund.currency) {
        tracing::warn!(event_id = event.id, refund_id = refund.id, "a refund that is not this one: not settled");
        return Ok(());
    }
    let status = resource.status.as_deref().unwrap_or("COMPLETED");
    let outcome = paypal::refund_status_outcome(resource.id.clone(), status);
    settlement::apply_refund(conn, topic, &refund, Ok(outcome), now, settlement::retry_at(now, 0)).await
}
