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
//! | anything else | declined, `invalid_payment_token` |
use super::{ChargeAttempt, Gateway, GatewayError, GatewayFuture, Outcome, RefundAttempt};
use std::{collections::HashSet, sync::Mutex};

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
                _ => Ok(declined("invalid_payment_token", "The payment token is not one the sandbox knows.")),
            }
        })
    }

    fn refund<'a>(&'a self, attempt: &'a RefundAttempt) -> GatewayFuture<'a> {
        Box::pin(async move { Ok(Outcome::Succeeded { reference: format!("sb_re_{}", attempt.refund_id) }) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(token: &str, key: &str) -> ChargeAttempt {
        ChargeAttempt {
            payment_id: key.to_owned(),
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
}
