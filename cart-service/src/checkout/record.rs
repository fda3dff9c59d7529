//! A checkout's record in Redis: its progress, the lines it reserves, the run that owns it and,
//! once done, how it ended, so a retry with the same key gets the same answer.
//!
//! A done record keeps the ending as the answer was given (`status` and `body`, the format of
//! cart 0.1.0): a replica of any version replays it alike during a rolling upgrade. `keep` and
//! `replay` translate between that and the saga's `Outcome` or decline.
use super::outcome::{Outcome, Summary};
use crate::error::CartError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A checkout's progress and, once finished, its answer, kept for retries with the same key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub checkout_id: String,
    pub fingerprint: String,
    pub state: RecordState,
    /// Done: 201 (paid), 202 (pending) or 402 (declined); 0 before.
    pub status: u16,
    /// Done: the summary with its `status` (201, 202) and, for PayPal, its approval link (a
    /// field older replicas ignore), or the error body (402); null before.
    pub body: Value,
    pub updated_at: i64,
    /// The lines this checkout reserves (product id, quantity), fixed at its first run: a
    /// retry resumes with them instead of re-reading the cart, whose lines the checkout's own
    /// reservation may have marked unavailable.
    #[serde(default)]
    pub lines: Vec<(String, i64)>,
    /// The run that owns the record (a fresh id each time a request starts or resumes it). A
    /// run writes only over the text it last wrote, so two retries cannot both resume one
    /// record, and a run taken over (its replica thought dead) cannot overwrite the answer of
    /// the run that took over.
    #[serde(default)]
    pub run: String,
}

/// Where a checkout stands, as its record says (stored as its snake_case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RecordState {
    /// A run holds it; its heartbeat says whether that run is alive.
    InProgress,
    /// A dependency failed mid-way: a retry with the same key resumes it.
    Retryable,
    /// Answered: the same key gets the same answer.
    Done,
    /// Its last run reserved nothing (empty cart, lines unavailable, out of stock): the key may
    /// be used again, for the cart as it is then, with any payment token.
    Reusable,
}

/// A paid or pending checkout's body as the record keeps it: the summary and its status.
#[derive(Serialize, Deserialize)]
struct KeptSummary {
    #[serde(flatten)]
    summary: Summary,
    status: String,
}

/// A declined checkout's body as the record keeps it: the error body it was answered with.
#[derive(Serialize, Deserialize)]
struct KeptRefusal {
    error: KeptError,
}

#[derive(Serialize, Deserialize)]
struct KeptError {
    code: String,
    message: String,
}

impl Record {
    /// Marks the record done with `ended`: a sale, a pending charge, or a decline.
    pub fn keep(&mut self, ended: Ended<'_>) -> anyhow::Result<()> {
        let (status, body) = match ended {
            Ended::Outcome(Outcome::Paid(summary)) => (201, kept_summary(summary, "paid")?),
            Ended::Outcome(Outcome::Pending(summary)) => (202, kept_summary(summary, "pending")?),
            Ended::Declined(error) => {
                let refusal =
                    KeptRefusal { error: KeptError { code: error.code().to_owned(), message: error.to_string() } };
                (402, serde_json::to_value(refusal)?)
            }
        };
        self.state = RecordState::Done;
        self.status = status;
        self.body = body;
        Ok(())
    }

    /// What a done record answers again: its outcome, or its decline in the words first given.
    pub fn replay(&self) -> Result<Outcome, CartError> {
        let summary = || serde_json::from_value::<KeptSummary>(self.body.clone()).map(|kept| kept.summary);
        match self.status {
            201 => Ok(Outcome::Paid(summary().map_err(anyhow::Error::from)?)),
            202 => Ok(Outcome::Pending(summary().map_err(anyhow::Error::from)?)),
            402 => {
                let refusal = serde_json::from_value::<KeptRefusal>(self.body.clone()).map_err(anyhow::Error::from)?;
                Err(CartError::DeclinedBefore(refusal.error.message))
            }
            other => Err(anyhow::anyhow!("a done checkout record holds status {other}").into()),
        }
    }
}

/// How a run ended, as `Record::keep` takes it.
pub(super) enum Ended<'a> {
    Outcome(&'a Outcome),
    /// The gateway declined the card (`CartError::PaymentDeclined`).
    Declined(&'a CartError),
}

fn kept_summary(summary: &Summary, status: &str) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(KeptSummary { summary: summary.clone(), status: status.to_owned() })?)
}

pub(super) fn record_key(user_id: &str, key: &str) -> String {
    format!("cart:checkout:{user_id}:{key}")
}

/// Whether `record_key` is one of `user_id`'s checkout records.
pub(super) fn is_record_of(record_key: &str, user_id: &str) -> bool {
    record_key
        .strip_prefix("cart:checkout:")
        .and_then(|rest| rest.strip_prefix(user_id))
        .is_some_and(|rest| rest.starts_with(':'))
}

/// The key naming a checkout's record by the checkout's id. A prefix of its own, like the
/// heartbeat's: under the records', a user id could spell it.
pub(super) fn by_id_key(checkout_id: &str) -> String {
    format!("cart:checkout-by-id:{checkout_id}")
}

/// The key whose presence says the replica running the checkout is alive. A prefix of its own:
/// under the record's, the Idempotency-Key `K:alive` would name the heartbeat of `K`.
pub(super) fn alive_key(record_key: &str) -> String {
    record_key.replacen("cart:checkout:", "cart:checkout-alive:", 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::outcome::{Amount, BoughtLine};
    use serde_json::json;

    fn record() -> Record {
        Record {
            checkout_id: "c-1".into(),
            fingerprint: "f".into(),
            state: RecordState::InProgress,
            status: 0,
            body: Value::Null,
            updated_at: 0,
            lines: vec![("p-1".into(), 2)],
            run: "r".into(),
        }
    }

    fn summary() -> Summary {
        Summary {
            checkout_id: "c-1".into(),
            payment_id: "pay-1".into(),
            lines: vec![BoughtLine {
                product_id: "p-1".into(),
                name: "Mug".into(),
                quantity: 2,
                unit_price: Amount { amount_minor: 1250, currency: "EUR".into() },
            }],
            total: Amount { amount_minor: 2500, currency: "EUR".into() },
            approval_url: None,
        }
    }

    #[test]
    fn a_kept_outcome_replays_as_itself() {
        let awaiting = summary().awaiting("https://www.sandbox.paypal.com/checkoutnow?token=ORDER-1");
        for outcome in [Outcome::Paid(summary()), Outcome::Pending(summary()), Outcome::Pending(awaiting)] {
            let mut record = record();
            record.keep(Ended::Outcome(&outcome)).unwrap();
            assert_eq!(record.state, RecordState::Done);
            assert_eq!(record.replay().unwrap(), outcome);
        }
    }

    #[test]
    fn a_kept_decline_replays_in_the_words_first_given() {
        let declined =
            CartError::PaymentDeclined { code: "card_declined".into(), message: "Insufficient funds.".into() };
        let mut record = record();
        record.keep(Ended::Declined(&declined)).unwrap();
        assert_eq!(record.status, 402);
        match record.replay() {
            Err(again @ CartError::DeclinedBefore(_)) => {
                assert_eq!((again.code(), again.to_string()), (declined.code(), declined.to_string()))
            }
            other => panic!("{other:?}"),
        }
    }

    /// What cart 0.1.0 wrote (its `json!` bodies, keys in order): a replica of this version
    /// replays those records during a rolling upgrade, and 0.1.0 replays what this one keeps.
    #[test]
    fn records_of_cart_0_1_0_replay_and_records_kept_now_read_as_0_1_0_wrote_them() {
        let paid_by_0_1_0 = json!({
            "checkout_id": "c-1",
            "lines": [{ "name": "Mug", "product_id": "p-1", "quantity": 2,
                        "unit_price": { "amount_minor": 1250, "currency": "EUR" } }],
            "payment_id": "pay-1",
            "status": "paid",
            "total": { "amount_minor": 2500, "currency": "EUR" },
        });
        let mut old = Record { state: RecordState::Done, status: 201, body: paid_by_0_1_0.clone(), ..record() };
        assert_eq!(old.replay().unwrap(), Outcome::Paid(summary()));

        let mut kept = record();
        kept.keep(Ended::Outcome(&Outcome::Paid(summary()))).unwrap();
        assert_eq!((kept.status, &kept.body), (201, &paid_by_0_1_0));

        old.status = 402;
        old.body = json!({ "error": { "code": "payment_declined", "message": "Your card was declined." } });
        assert_eq!(old.replay().unwrap_err().to_string(), "Your card was declined.");
    }

    #[test]
    fn a_done_record_with_another_status_is_an_error_not_an_answer() {
        let record = Record { state: RecordState::Done, status: 500, ..record() };
        assert!(matches!(record.replay(), Err(CartError::Unexpected(_))));
    }
}
