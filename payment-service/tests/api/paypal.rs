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
    assert!(paypal.capture("pay-1", &order_id).await.is_err());
    let captured = paypal.capture("pay-1", &order_id).await.unwrap();
    assert!(matches!(&captured, Outcome::Succeeded { reference } if reference.starts_with("CAPTURE-")), "{captured:?}");
    assert_eq!(mock.captures(), 1, "the repeat captured twice");
}

#[tokio::test]
async fn a_capture_before_the_buyer_approved_is_not_final_and_after_it_succeeds() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let (order_id, _) = created(&paypal, "pay-1").await;
    let early = paypal.capture("pay-1", &order_id).await.unwrap();
    assert_eq!(early, Outcome::Pending { reference: order_id.clone() });
    assert_eq!(mock.captures(), 0);

    mock.approve(&order_id);
    // Another request id (the first answer, not approved, is what PayPal would replay).
    let captured = paypal.capture("pay-1-again", &order_id).await.unwrap();
    let Outcome::Succeeded { reference } = captured else { panic!("{captured:?}") };
    let order = paypal.order(&order_id).await.unwrap();
    assert_eq!(order.status, "COMPLETED");
    assert_eq!(order.capture.map(|c| c.id), Some(reference));
    // Captured already: a capture under yet another id answers the capture made.
    let again = paypal.capture("pay-1-third", &order_id).await.unwrap();
    assert!(matches!(again, Outcome::Succeeded { .. }), "{again:?}");
    assert_eq!(mock.captures(), 1);
}

#[tokio::test]
async fn a_declined_capture_is_declined_with_paypals_issue() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let (order_id, _) = created(&paypal, "pay-1").await;
    mock.approve(&order_id);
    mock.decline_captures(true);
    let declined = paypal.capture("pay-1", &order_id).await.unwrap();
    assert!(matches!(&declined, Outcome::Declined { code, .. } if code == "INSTRUMENT_DECLINED"), "{declined:?}");
    assert_eq!(mock.captures(), 0);
}

#[tokio::test]
async fn an_order_paypal_will_not_take_is_refused_with_its_issue() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let mut unpayable = order("pay-1");
    unpayable.currency = "XTS".to_owned();
    let refused = paypal.create_order(&unpayable).await.unwrap();
    assert!(matches!(&refused, Created::Refused { code, .. } if code == "CURRENCY_NOT_SUPPORTED"), "{refused:?}");
}

#[tokio::test]
async fn a_refund_of_a_capture_is_made_once_whatever_the_repeats() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let (order_id, _) = created(&paypal, "pay-1").await;
    mock.approve(&order_id);
    let Outcome::Succeeded { reference: capture } = paypal.capture("pay-1", &order_id).await.unwrap() else {
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
async fn a_webhook_is_believed_only_when_paypal_confirms_its_signature() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let event = br#"{"id":"WH-1","event_type":"CHECKOUT.ORDER.APPROVED","resource":{"id":"ORDER-1"}}"#;
    let signature = |sig: &str| WebhookSignature { transmission_sig: sig.to_owned(), ..WebhookSignature::default() };
    assert!(paypal.verify_webhook(WEBHOOK_ID, &signature(GOOD_SIGNATURE), event).await.unwrap());
    assert!(!paypal.verify_webhook(WEBHOOK_ID, &signature("forged"), event).await.unwrap());
    assert!(!paypal.verify_webhook("WH-OTHER", &signature(GOOD_SIGNATURE), event).await.unwrap());
    assert!(!paypal.verify_webhook(WEBHOOK_ID, &signature(GOOD_SIGNATURE), b"not json").await.unwrap());
}

#[tokio::test]
async fn an_id_that_is_not_paypals_never_reaches_a_url() {
    let mock = PayPalMock::start();
    let paypal = client(&mock);
    let refused = paypal.capture("pay-1", "../v1/oauth2/token").await;
    assert!(matches!(refused, Err(GatewayError::Unavailable(_))), "{refused:?}");
    assert_eq!(mock.calls(|_| true), 0);
}
