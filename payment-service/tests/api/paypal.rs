//! payment's PayPal client (`gateway::paypal`) against a local stand-in for PayPal's API
//! (`paypal_mock.rs`): the access token kept and renewed, a lost answer repeated with the same
//! request id, capture before and after the buyer's approval, a declined capture, refunds, and
//! webhook signatures. The approval flow of a checkout builds on these (issue 23).
use crate::paypal_mock::{PayPalMock, CLIENT_ID, CLIENT_SECRET, GOOD_SIGNATURE, WEBHOOK_ID};
use payment_service::gateway::{
    paypal::{Created, OrderRequest, PayPal, WebhookSignature},
    GatewayError, Outcome, RefundAttempt,
};
use secrecy::SecretString;
use std::time::Duration;

fn client(mock: &PayPalMock) -> PayPal {
    PayPal::new(mock.base_url.clone(), CLIENT_ID.to_owned(), SecretString::from(CLIENT_SECRET), Duration::from_secs(5))
        .unwrap()
}

fn order(payment_id: &str) -> OrderRequest {
    OrderRequest {
        payment_id: payment_id.to_owned(),
        amount_minor: 1999,
        currency: "USD".to_owned(),
        return_url: "https://shop.example/checkout/approved".to_owned(),
        cancel_url: "https://shop.example/checkout/cancelled".to_owned(),
    }
}

async fn created(paypal: &PayPal, payment_id: &str) -> (String, String) {
    match paypal.create_order(&order(payment_id)).await.unwrap() {
        Created::AwaitingApproval { order_id, approval_url } => (order_id, approval_url),
        other => panic!("no order: {other:?}"),
    }
}

#[tokio::test]
async fn an_order_waits_for_the_buyer_at_paypals_approval_link() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let (order_id, approval_url) = created(&paypal, "pay-1").await;
    assert_eq!(approval_url, format!("https://www.sandbox.paypal.com/checkoutnow?token={order_id}"));
    assert_eq!(paypal.order(&order_id).await.unwrap().status, "PAYER_ACTION_REQUIRED");
}

#[tokio::test]
async fn one_token_serves_every_call_until_shortly_before_it_ends() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    created(&paypal, "pay-1").await;
    created(&paypal, "pay-2").await;
    assert_eq!(mock.token_requests(), 1, "the token was fetched again while valid");

    // A token of 2 s is renewed after half its life (a minute's margin does not fit in it).
    mock.token_lifetime(2);
    let paypal = client(&mock);
    created(&paypal, "pay-3").await;
    created(&paypal, "pay-4").await;
    assert_eq!(mock.token_requests(), 2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    created(&paypal, "pay-5").await;
    assert_eq!(mock.token_requests(), 3, "a token past its renewal time was used");
}

#[tokio::test]
async fn a_token_paypal_refuses_is_renewed_once_and_the_call_goes_through() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    created(&paypal, "pay-1").await;
    mock.revoke_tokens();
    created(&paypal, "pay-2").await;
    assert_eq!(mock.token_requests(), 2);
    assert_eq!(mock.orders_created(), 2);
}

#[tokio::test]
async fn wrong_credentials_are_an_error_that_names_no_secret() {
    let mock = PayPalMock::start();
    let paypal = PayPal::new(
        mock.base_url.clone(),
        CLIENT_ID.to_owned(),
        SecretString::from("wrong-secret"),
        Duration::from_secs(5),
    )
    .unwrap();
    let error = paypal.create_order(&order("pay-1")).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, GatewayError::Unavailable(_)), "{text}");
    assert!(text.contains("credentials") && !text.contains("wrong-secret") && !text.contains(CLIENT_ID), "{text}");
    assert_eq!(mock.token_requests(), 1, "refused credentials were tried again at once");
    assert_eq!(mock.orders_created(), 0);
}

#[tokio::test]
async fn a_lost_answer_asked_again_with_the_same_request_id_makes_one_order_and_one_capture() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    mock.lose_answers(1);
    let lost = paypal.create_order(&order("pay-1")).await;
    assert!(matches!(lost, Err(GatewayError::Unavailable(_))), "{lost:?}");
    let (order_id, _) = created(&paypal, "pay-1").await;
    assert_eq!(mock.orders_created(), 1, "the repeat created a second order");

    mock.approve(&order_id);
    mock.lose_answers(1);
    assert!(paypal.capture(&order_id, "capture-1").await.is_err());
    let captured = paypal.capture(&order_id, "capture-1").await.unwrap();
    assert!(matches!(&captured, Outcome::Succeeded { reference } if reference.starts_with("CAPTURE-")), "{captured:?}");
    assert_eq!(mock.captures(), 1, "the repeat captured twice");
}

#[tokio::test]
async fn a_capture_before_the_buyer_approved_is_not_final_and_a_new_attempt_after_it_succeeds() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let (order_id, _) = created(&paypal, "pay-1").await;
    let early = paypal.capture(&order_id, "capture-1").await.unwrap();
    assert_eq!(early, Outcome::Pending { reference: order_id.clone() });
    assert_eq!(mock.captures(), 0);

    mock.approve(&order_id);
    // PayPal may replay the first answer to a request id, the refusal included: an attempt
    // after the approval takes a new id.
    assert_eq!(paypal.capture(&order_id, "capture-1").await.unwrap(), early);
    let captured = paypal.capture(&order_id, "capture-2").await.unwrap();
    let Outcome::Succeeded { reference } = captured else { panic!("{captured:?}") };
    let order = paypal.order(&order_id).await.unwrap();
    assert_eq!(order.status, "COMPLETED");
    assert_eq!(order.capture.map(|c| c.id), Some(reference));
    // Captured already: yet another attempt answers the capture made, and captures nothing.
    let again = paypal.capture(&order_id, "capture-3").await.unwrap();
    assert!(matches!(again, Outcome::Succeeded { .. }), "{again:?}");
    assert_eq!(mock.captures(), 1);
}

#[tokio::test]
async fn a_declined_funding_source_leaves_the_order_to_the_buyer_and_a_later_attempt_captures() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let (order_id, _) = created(&paypal, "pay-1").await;
    mock.approve(&order_id);
    mock.decline_captures(true);
    // INSTRUMENT_DECLINED: PayPal sends the buyer back to choose another way to pay.
    let declined = paypal.capture(&order_id, "capture-1").await.unwrap();
    assert_eq!(declined, Outcome::Pending { reference: order_id.clone() });
    assert_eq!(mock.captures(), 0);
    mock.decline_captures(false);
    let captured = paypal.capture(&order_id, "capture-2").await.unwrap();
    assert!(matches!(captured, Outcome::Succeeded { .. }), "{captured:?}");
}

#[tokio::test]
async fn a_repeated_request_id_answered_with_another_amount_is_no_order() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    created(&paypal, "pay-1").await;
    let mut other = order("pay-1");
    other.amount_minor = 2999;
    let answer = paypal.create_order(&other).await;
    assert!(matches!(&answer, Err(GatewayError::Unavailable(e)) if e.contains("another amount")), "{answer:?}");
}

#[tokio::test]
async fn amounts_are_written_as_paypal_takes_them_and_what_it_cannot_take_is_refused_here() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let in_currency = |currency: &str, amount_minor: i64| OrderRequest {
        currency: currency.to_owned(),
        amount_minor,
        ..order(&format!("pay-{currency}-{amount_minor}"))
    };
    // Forints in minor units (ISO: two digits): PayPal takes whole forints only.
    assert!(matches!(
        paypal.create_order(&in_currency("HUF", 150_000)).await.unwrap(),
        Created::AwaitingApproval { .. }
    ));
    assert!(matches!(paypal.create_order(&in_currency("JPY", 1500)).await.unwrap(), Created::AwaitingApproval { .. }));
    let sent = mock.created_amounts();
    assert_eq!(sent, vec![("HUF".to_owned(), "1500".to_owned()), ("JPY".to_owned(), "1500".to_owned())]);

    let orders = mock.orders_created();
    let fraction = paypal.create_order(&in_currency("HUF", 150_050)).await.unwrap();
    assert!(matches!(&fraction, Created::Refused { code, .. } if code == "DECIMALS_NOT_SUPPORTED"), "{fraction:?}");
    let unknown = paypal.create_order(&in_currency("KWD", 1234)).await.unwrap();
    assert!(matches!(&unknown, Created::Refused { code, .. } if code == "CURRENCY_NOT_SUPPORTED"), "{unknown:?}");
    assert_eq!(mock.orders_created(), orders, "a refused amount reached PayPal");
}

#[tokio::test]
async fn an_order_paypal_refuses_is_refused_with_its_issue() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    mock.refuse_orders("PAYEE_ACCOUNT_RESTRICTED");
    let refused = paypal.create_order(&order("pay-1")).await.unwrap();
    assert!(matches!(&refused, Created::Refused { code, .. } if code == "PAYEE_ACCOUNT_RESTRICTED"), "{refused:?}");
    assert_eq!(mock.orders_created(), 0);
}

#[tokio::test]
async fn a_refund_of_a_capture_is_made_once_whatever_the_repeats() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let (order_id, _) = created(&paypal, "pay-1").await;
    mock.approve(&order_id);
    let Outcome::Succeeded { reference: capture } = paypal.capture(&order_id, "capture-1").await.unwrap() else {
        panic!("not captured")
    };
    let attempt = RefundAttempt {
        refund_id: "refund-1".to_owned(),
        charge_reference: capture,
        amount_minor: 1999,
        currency: "USD".to_owned(),
    };
    let first = paypal.refund(&attempt).await.unwrap();
    let Outcome::Succeeded { reference: refund } = first.clone() else { panic!("{first:?}") };
    assert_eq!(paypal.refund(&attempt).await.unwrap(), first, "a repeat is answered the first refund");
    assert_eq!(mock.refunds_created(), 1);
    assert_eq!(paypal.refund_status(&refund).await.unwrap(), first);
}

#[tokio::test]
async fn a_webhook_is_believed_only_when_paypal_confirms_its_signature_on_the_bytes_sent() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    // Keys out of alphabetical order: written again by a JSON library they would be sorted.
    let event =
        br#"{"id":"WH-1","event_type":"CHECKOUT.ORDER.APPROVED","resource":{"id":"ORDER-1","status":"APPROVED"}}"#;
    let signature = |sig: &str| WebhookSignature {
        auth_algo: "SHA256withRSA".to_owned(),
        cert_url: "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1".to_owned(),
        transmission_id: "69cd13f0-d67a-11e5-baa3-778b53f4ae55".to_owned(),
        transmission_sig: sig.to_owned(),
        transmission_time: "2026-12-07T10:00:00Z".to_owned(),
    };
    assert!(paypal.verify_webhook(WEBHOOK_ID, &signature(GOOD_SIGNATURE), event).await.unwrap());
    assert_eq!(mock.last_checked_event().as_bytes(), event, "the event was not passed on byte for byte");
    assert!(!paypal.verify_webhook(WEBHOOK_ID, &signature("forged"), event).await.unwrap());
    assert!(!paypal.verify_webhook("WH-OTHER", &signature(GOOD_SIGNATURE), event).await.unwrap());
    assert!(!paypal.verify_webhook(WEBHOOK_ID, &signature(GOOD_SIGNATURE), b"not json").await.unwrap());
    // Headers missing: PayPal refuses the check (400), which verifies nothing.
    let unsigned = WebhookSignature { transmission_sig: GOOD_SIGNATURE.to_owned(), ..WebhookSignature::default() };
    assert!(!paypal.verify_webhook(WEBHOOK_ID, &unsigned, event).await.unwrap());
}

#[tokio::test]
async fn an_id_that_is_not_paypals_never_reaches_a_url() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let refused = paypal.capture("../v1/oauth2/token", "capture-1").await;
    assert!(matches!(&refused, Err(GatewayError::Unavailable(e)) if e.contains("not a PayPal id")), "{refused:?}");
    assert_eq!(mock.calls(|_| true) + mock.token_requests(), 0, "PayPal was asked");
}
