"""Paying with PayPal (issue 23), on the real platform against the PayPal stand-in
(paypal_standin.py): the checkout answers 202 with PayPal's approval link, the stock is held
while the buyer approves, and an approved order ends like a card (stock committed, the order in
auth's history, the cart settled); an approval after the reservation expired is never captured.
Reservations expire after 5 s on this platform (conftest.py)."""
import json
import urllib.request
import uuid

from shop import admin, call, create_product, expect, sign_up, wait_until
from test_money import orders, payment_sql, product_sql
from test_platform import add, assert_available


def paypal_checkout(platform, shopper, key: str):
    return call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_method": "paypal"}, shopper.token,
                {"Idempotency-Key": key})


def state(platform, shopper, checkout_id: str) -> dict:
    return expect(call("GET", f"{platform.cart}/v1/cart/checkout/{checkout_id}", token=shopper.token), 200,
                  "where the checkout stands").body


def approve(approval_url: str):
    """The buyer opens PayPal's page and approves (the stand-in then sends PayPal's webhook)."""
    with urllib.request.urlopen(approval_url, timeout=10) as page:
        assert page.status == 200


def order_id_of(approval_url: str) -> str:
    return approval_url.split("token=", 1)[1]


def test_a_paypal_checkout_answers_the_approval_link_and_once_approved_ends_like_a_card(platform, running):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=3, price=1800, name="PayPal mug")
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug, 2), 200, "add")
    key = str(uuid.uuid4())

    started = expect(paypal_checkout(platform, shopper, key), 202, "a PayPal checkout")
    assert started.body["status"] == "requires_approval", started.body
    assert started.body["approval_url"].startswith(f"{running.paypal.url}/checkoutnow?token="), started.body
    assert started.body["total"] == {"amount_minor": 3600, "currency": "EUR"}
    checkout_id = started.body["checkout_id"]
    # The buyer may take longer than this platform's 5 s reservations: held for the test.
    product_sql(running, f"UPDATE reservations SET expires_at = now() + interval '1 hour' WHERE id = '{checkout_id}'")
    assert_available(platform, mug, 1, "held while the buyer approves")
    waiting = state(platform, shopper, checkout_id)
    assert (waiting["status"], waiting["approval_url"]) == ("requires_approval", started.body["approval_url"])
    again = expect(paypal_checkout(platform, shopper, key), 202, "a retry with the key")
    assert again.body["approval_url"] == started.body["approval_url"]
    order_id = order_id_of(started.body["approval_url"])
    assert running.paypal.captures_of(order_id) == 0, "nothing taken before the buyer approves"

    approve(started.body["approval_url"])
    wait_until("the checkout is paid", lambda: state(platform, shopper, checkout_id)["status"] == "paid",
               timeout=20, interval=0.3)
    assert running.paypal.captures_of(order_id) == 1
    assert product_sql(running, f"SELECT state FROM reservations WHERE id = '{checkout_id}'") == "committed"
    assert_available(platform, mug, 1, "two sold")
    wait_until("the cart is settled",
               lambda: call("GET", f"{platform.cart}/v1/cart", token=shopper.token).body["lines"] == [], timeout=10)
    wait_until("the order is in auth's history",
               lambda: any(o["order_id"] == checkout_id for o in orders(platform, shopper)), timeout=20)
    paid = payment_sql(running, f"SELECT status, gateway, amount_minor FROM payments WHERE order_id = '{checkout_id}'")
    assert paid.split() == ["succeeded", "paypal", "3600"], paid
    # PayPal's CAPTURE.COMPLETED webhook came after the capture's answer: taken, and changed nothing.
    wait_until("PayPal's webhooks were taken", lambda: ("PAYMENT.CAPTURE.COMPLETED", 200) in running.paypal.delivered,
               timeout=10)
    assert ("CHECKOUT.ORDER.APPROVED", 200) in running.paypal.delivered


def test_a_paypal_approval_after_the_reservation_expired_is_never_captured(platform, running):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=2, price=900, name="PayPal late mug")
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug, 1), 200, "add")
    started = expect(paypal_checkout(platform, shopper, str(uuid.uuid4())), 202, "a PayPal checkout")
    checkout_id = started.body["checkout_id"]

    # No approval within the reservation's 5 s: the stock comes back, and the checkout is declined.
    wait_until("the checkout is declined", lambda: state(platform, shopper, checkout_id)["status"] == "declined",
               timeout=30, interval=0.5)
    ended = state(platform, shopper, checkout_id)
    assert ended["error"]["code"] == "payment_declined" and "approval_expired" in ended["error"]["message"], ended
    assert_available(platform, mug, 2, "released")

    approve(started.body["approval_url"])
    wait_until("PayPal's approval was taken", lambda: ("CHECKOUT.ORDER.APPROVED", 200) in running.paypal.delivered,
               timeout=10)
    # Given the reconciler several rounds: still nothing captured, nothing kept.
    wait_until("the payment stays failed", lambda: payment_sql(
        running, f"SELECT status FROM payments WHERE order_id = '{checkout_id}'") == "failed", timeout=5)
    assert running.paypal.captures_of(order_id_of(started.body["approval_url"])) == 0
    assert call("GET", f"{platform.cart}/v1/cart", token=shopper.token).body["lines"][0]["quantity"] == 1, "cart kept"
    assert not any(o["order_id"] == checkout_id for o in orders(platform, shopper))


def test_a_paypal_webhook_paypal_does_not_verify_is_refused_and_changes_nothing(platform, running):
    event = {"id": "WH-FORGED", "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {"id": "E2EFORGED"}}
    request = urllib.request.Request(running.paypal.webhook_url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "PAYPAL-AUTH-ALGO": "SHA256withRSA",
                                              "PAYPAL-CERT-URL": "https://example.invalid/cert",
                                              "PAYPAL-TRANSMISSION-ID": str(uuid.uuid4()),
                                              "PAYPAL-TRANSMISSION-SIG": "forged",
                                              "PAYPAL-TRANSMISSION-TIME": "2026-12-07T00:00:00Z"})
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a forged webhook was taken")
    except urllib.error.HTTPError as refused:
        assert refused.code == 400
        assert json.loads(refused.read())["error"]["code"] == "invalid_webhook"
    assert payment_sql(running, "SELECT count(*) FROM processed_webhooks WHERE event_id = 'paypal:WH-FORGED'") == "0"
