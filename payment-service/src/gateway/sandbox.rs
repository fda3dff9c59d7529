//! The sandbox gateway: no network, outcomes chosen by the payment token like Stripe's test
//! tokens, so that local runs, demos and benchmarks exercise every path:
//!
//! | token | outcome |
//! |---|---|
//! | `tok_visa`, `tok_mastercard`, `tok_amex` | succeeds |
//! | `tok_chargeDeclined` | declined, `card_declined` |
//! | `tok_chargeDeclinedInsufficientFunds` | declined, `insufficient_funds` |
//! | `tok_chargeDeclinedExpiredCard` | declined, `expired_card` |
//! | `tok_timeout` | the first attempt times out; a repeat with the same key succeeds |
//! | `tok_pending` | accepted, pending (`sb_ch_<payment id>`); its status look-up answers pending until 10 s after the payment was created, then succeeded |
//! | `tok_pending_declined` | accepted, pending (`sb_chd_<payment id>`); its look-up answers pending for 1 s after the payment was created, then declined (`card_declined`) |
//! | anything else | declined, `invalid_payment_token` |
//!
//! Refunds always succeed. `tok_pending` keeps no state: the payment id is a UUIDv7, whose
//! timestamp is the payment's creation time, so a pending sandbox charge settles the same way
//! after a restart.
use super::{ChargeAttempt, Gateway, GatewayError, GatewayFuture, Outcome, RefundAttempt, SearchFuture, CANCELED};
use std::{
    collections::HashSet,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use uuid::Uuid;

/// How long a `tok_pending` charge stays pending after its payment was created.
const PENDING_FOR: Duration = Duration::from_secs(10);
/// How long a `tok_pending_declined` charge stays pending before it is declined.
const PENDING_DECLINED_FOR: Duration = Duration::from_secs(1);

/// Keys of `tok_timeout` charges that already timed out once; bounded so that it cannot grow
/// without end (a forgotten key times out once more, which is still a correct simulation).
const MAX_REMEMBERED: usize = 10_000;

#[derive(Default)]
pub struct Sandbox {
    timed_out: Mutex<HashSet<String>>,
}

impl Sandbox {
    fn first_attempt(&self, key: &str) -> bool {
        let Ok(mut seen) = self.timed_out.lock() else { return false };
        if seen.len() >= MAX_REMEMBERED {
            seen.clear();
        }
        seen.insert(key.to_owned())
    }
}

fn declined(code: &str, message: &str) -> Outcome {
    Outcome::Declined { reference: None, code: code.to_owned(), message: message.to_owned() }
}

/// Where a charge referenced `sb_ch_<payment id>` stands at `now`: the only pending sandbox
/// charges are `tok_pending` ones, which succeed `PENDING_FOR` after the payment's creation.
fn charge_state(reference: &str, now: SystemTime) -> Result<Outcome, GatewayError> {
    let (payment_id, declines) = match (reference.strip_prefix("sb_chd_"), reference.strip_prefix("sb_ch_")) {
        (Some(id), _) => (Some(id), true),
        (None, id) => (id, false),
    };
    let created = payment_id
        .and_then(|id| Uuid::parse_str(id).ok())
        .and_then(|id| id.get_timestamp())
        .map(|at| {
            let (secs, nanos) = at.to_unix();
            UNIX_EPOCH + Duration::new(secs, nanos)
        })
        .ok_or_else(|| GatewayError::Unavailable("not a sandbox charge reference".to_owned()))?;
    let reference = reference.to_owned();
    Ok(match declines {
        false if now < created + PENDING_FOR => Outcome::Pending { reference },
        false => Outcome::Succeeded { reference },
        true if now < created + PENDING_DECLINED_FOR => Outcome::Pending { reference },
        true => Outcome::Declined {
            reference: Some(reference),
            code: "card_declined".to_owned(),
            message: "Your card was declined.".to_owned(),
        },
    })
}

impl Gateway for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn charge<'a>(&'a self, attempt: &'a ChargeAttempt) -> GatewayFuture<'a> {
        Box::pin(async move {
            let reference = format!("sb_ch_{}", attempt.payment_id);
            match attempt.payment_token.as_str() {
                "tok_visa" | "tok_mastercard" | "tok_amex" => Ok(Outcome::Succeeded { reference }),
                "tok_chargeDeclined" => Ok(declined("card_declined", "Your card was declined.")),
                "tok_chargeDeclinedInsufficientFunds" => {
                    Ok(declined("insufficient_funds", "Your card has insufficient funds."))
                }
                "tok_chargeDeclinedExpiredCard" => Ok(declined("expired_card", "Your card has expired.")),
                "tok_timeout" if self.first_attempt(&attempt.payment_id) => Err(GatewayError::Timeout),
                "tok_timeout" => Ok(Outcome::Succeeded { reference }),
                "tok_pending" => Ok(Outcome::Pending { reference }),
                "tok_pending_declined" => Ok(Outcome::Pending { reference: format!("sb_chd_{}", attempt.payment_id) }),
                _ => Ok(declined("invalid_payment_token", "The payment token is not one the sandbox knows.")),
            }
        })
    }

    fn refund<'a>(&'a self, attempt: &'a RefundAttempt) -> GatewayFuture<'a> {
        Box::pin(async move { Ok(Outcome::Succeeded { reference: format!("sb_re_{}", attempt.refund_id) }) })
    }

    fn charge_status<'a>(&'a self, _payment_id: &'a str, reference: &'a str) -> GatewayFuture<'a> {
        Box::pin(async move { charge_state(reference, SystemTime::now()) })
    }

    fn refund_status<'a>(&'a self, reference: &'a str) -> GatewayFuture<'a> {
        Box::pin(async move { Ok(Outcome::Succeeded { reference: reference.to_owned() }) })
    }

    /// The sandbox answers every charge it makes (a `tok_timeout` first attempt makes none), so
    /// there is never a charge to find.
    fn find_charge<'a>(&'a self, _payment_id: &'a str, _amount_minor: i64, _currency: &'a str) -> SearchFuture<'a> {
        Box::pin(async move { Ok(None) })
    }

    fn cancel_charge<'a>(&'a self, _payment_id: &'a str, reference: &'a str) -> GatewayFuture<'a> {
        Box::pin(async move {
            // As at Stripe: a charge that already succeeded cannot be cancelled.
            Ok(match charge_state(reference, SystemTime::now()) {
                Ok(Outcome::Succeeded { reference }) => Outcome::Succeeded { reference },
                _ => Outcome::Declined {
                    reference: Some(reference.to_owned()),
                    code: CANCELED.to_owned(),
                    message: "The payment was cancelled.".to_owned(),
                },
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(token: &str, key: &str) -> ChargeAttempt {
        ChargeAttempt {
            payment_id: key.to_owned(),
            order_id: format!("order-{key}"),
            amount_minor: 100,
            currency: "EUR".to_owned(),
            payment_token: token.to_owned(),
        }
    }

    #[tokio::test]
    async fn test_tokens_choose_the_outcome() {
        let sandbox = Sandbox::default();
        assert!(matches!(sandbox.charge(&charge("tok_visa", "a")).await, Ok(Outcome::Succeeded { .. })));
        let declined = sandbox.charge(&charge("tok_chargeDeclinedInsufficientFunds", "b")).await.unwrap();
        assert!(matches!(declined, Outcome::Declined { code, .. } if code == "insufficient_funds"));
        assert!(matches!(sandbox.charge(&charge("tok_timeout", "c")).await, Err(GatewayError::Timeout)));
        assert!(matches!(sandbox.charge(&charge("tok_timeout", "c")).await, Ok(Outcome::Succeeded { .. })));
    }

    #[tokio::test]
    async fn a_pending_charge_succeeds_ten_seconds_after_its_payment_was_created() {
        let sandbox = Sandbox::default();
        let id = Uuid::now_v7().to_string();
        let reference = format!("sb_ch_{id}");
        let pending = sandbox.charge(&charge("tok_pending", &id)).await.unwrap();
        assert_eq!(pending, Outcome::Pending { reference: reference.clone() });
        // A fresh sandbox (a restarted service) answers the same: the state is in the id.
        let restarted = Sandbox::default();
        assert_eq!(restarted.charge_status(&id, &reference).await.unwrap(), pending);
        let later = SystemTime::now() + Duration::from_secs(11);
        assert_eq!(charge_state(&reference, later).unwrap(), Outcome::Succeeded { reference: reference.clone() });
        // A payment created 11 s ago has succeeded now.
        let created = SystemTime::now() - Duration::from_secs(11);
        let since_epoch = created.duration_since(UNIX_EPOCH).unwrap();
        let old = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            since_epoch.as_secs(),
            since_epoch.subsec_nanos(),
        ));
        let old_reference = format!("sb_ch_{old}");
        assert_eq!(
            restarted.charge_status(&old.to_string(), &old_reference).await.unwrap(),
            Outcome::Succeeded { reference: old_reference.clone() }
        );
        assert!(matches!(restarted.cancel_charge("x", &old_reference).await, Ok(Outcome::Succeeded { .. })));
        assert!(matches!(restarted.cancel_charge(&id, &reference).await,
            Ok(Outcome::Declined { code, .. }) if code == CANCELED));
        assert!(restarted.charge_status("x", "sb_ch_not-a-uuid").await.is_err());
    }

    #[tokio::test]
    async fn a_pending_declined_charge_is_declined_a_second_after_its_payment_was_created() {
        let sandbox = Sandbox::default();
        let id = Uuid::now_v7().to_string();
        let reference = format!("sb_chd_{id}");
        assert_eq!(
            sandbox.charge(&charge("tok_pending_declined", &id)).await.unwrap(),
            Outcome::Pending { reference: reference.clone() }
        );
        assert_eq!(
            charge_state(&reference, SystemTime::now()).unwrap(),
            Outcome::Pending { reference: reference.clone() }
        );
        let later = SystemTime::now() + Duration::from_secs(2);
        assert!(matches!(charge_state(&reference, later).unwrap(),
            Outcome::Declined { code, reference: Some(r), .. } if code == "card_declined" && r == reference));
    }
}
