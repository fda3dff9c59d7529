"""Money invariants of the checkout saga (issue "Checkout money invariants"): every checkout ends
sold and paid, or not sold and not charged (or refunded), whatever the caches forget and however
late the gateway answers. Reservations expire after 5 s on this platform (conftest.py)."""
import hashlib
import os
import re
import subprocess
import uuid

from shop import admin, call, create_product, expect, sign_up, wait_until
from test_platform import add, assert_available, checkout, payments_of, product_available


def checkout_id(user_id: str, key: str) -> str:
    """cart-service's derivation (checkout.rs): the first 16 bytes of a SHA-256, as a UUID v4."""
    digest = hashlib.sha256(f"shop.checkout.v1\n{user_id}\n{key}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def payment_sql(running, sql: str) -> str:
    out = subprocess.run(["mysql", "-h127.0.0.1", "-upayment", "-ppayment", "-N", "-e", sql,
                          running.databases["payment-service"]], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def product_sql(running, sql: str) -> str:
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "product", "-d", running.databases["product-service"],
                          "-tAc", sql], check=True, capture_output=True, text=True,
                         env={**os.environ, "PGPASSWORD": "product"})
    return out.stdout.strip()


def orders(platform, shopper) -> list:
    return expect(call("GET", f"{platform.auth}/v1/auth/me/orders", token=shopper.token), 200, "orders").body["orders"]


def test_a_checkout_record_lost_by_redis_replays_the_first_charge_instead_of_charging_again(platform, running):
    # Finding 3, as reproduced against `make run`: Redis lost the `cart:` keys, the same key with
    # the same line charged a second time and sold a second unit.
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=5)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add")
    key = str(uuid.uuid4())
    first = expect(checkout(platform, shopper, key), 201, "checkout")
    assert first.body["checkout_id"] == checkout_id(shopper.user_id, key)
    assert_available(platform, mug, 4)

    # A Redis restart without persistence (or a failover) forgets the checkout's record and its
    # settled marker; the shopper puts the same line back and retries with the same key.
    subprocess.run(["redis-cli", "DEL", f"cart:checkout:{shopper.user_id}:{key}",
                    f"cart:settled:{first.body['checkout_id']}"], check=True, capture_output=True)
    expect(add(platform, shopper, mug), 200, "the same line again")
    again = expect(checkout(platform, shopper, key), 201, "the same key after the loss")
    assert again.body["payment_id"] == first.body["payment_id"], "the first charge, replayed"
    assert payments_of(running, [shopper.user_id]) == 1, "charged once"
    assert_available(platform, mug, 4, "one unit sold, not two")


def test_a_charge_that_succeeds_after_the_reservation_expired_is_refunded_and_the_cart_kept(platform, running):
    # Findings 1 and 2: the gateway answers `pending` and settles the charge after the
    # reservation's TTL; nothing was sold, so the money must go back — without the checkout's
    # request (the cart is killed meanwhile) and without a retry reaching a refund.
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=3)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add")
    key = str(uuid.uuid4())
    pending = expect(checkout(platform, shopper, key, token="tok_pending"), 202, "checkout while the gateway decides")
    assert pending.body["status"] == "pending"
    running.kill("cart-service")
    wait_until("the reservation expired (5 s TTL)", lambda: product_available(platform, mug) == 3, timeout=15)
    running.start("cart-service")
    running.wait_ready(platform.cart)
    running.wait_consuming(platform.cart)
    payment_id = pending.body["payment_id"]

    def refunded():
        return payment_sql(running, f"SELECT status FROM payments WHERE id = '{payment_id}'") == "refunded"

    # The refund waits for ReservationReleased through payment's consumer: it holds its
    # partitions (the signal, not a long timeout), so the refund follows within seconds.
    running.wait_consuming(platform.payment)
    wait_until("the late charge refunded in full", refunded, timeout=30, interval=0.5)
    assert payment_sql(running, f"SELECT count(*) FROM refunds WHERE payment_id = '{payment_id}'") == "1"
    assert product_sql(running, f"SELECT state FROM reservations WHERE id = '{pending.body['checkout_id']}'") \
        == "expired", "never committed: nothing sold"
    assert_available(platform, mug, 3, "nothing sold")
    lines = call("GET", f"{platform.cart}/v1/cart", token=shopper.token).body["lines"]
    assert [line["product_id"] for line in lines] == [mug], "an unsold checkout leaves the cart as it was"

    def history_shows_refund():
        listed = orders(platform, shopper)
        return len(listed) == 1 and listed[0]["refunded"]["amount_minor"] == listed[0]["total"]["amount_minor"]

    wait_until("the order history shows the refund", history_shows_refund, timeout=20)
    # Issue 36, item 5: the retry is told where the checkout stands, not the kept 202.
    retry = expect(checkout(platform, shopper, key, token="tok_pending"), 409, "the retry after the refund")
    assert retry.body["error"]["code"] == "conflict", retry.body
    assert payments_of(running, [shopper.user_id]) == 1, "the retry charged nothing"
    assert payment_sql(running, f"SELECT count(*) FROM refunds WHERE payment_id = '{payment_id}'") == "1"


def test_a_retry_of_a_checkout_answered_pending_learns_it_was_paid_and_sold(platform, running):
    # Issue 36, item 5: a checkout answered 202 replayed 202 for its key even after the payment
    # went through, so the shopper's retry could not learn the outcome. Now the retry asks
    # payment and answers as a first run would have: 201, the same checkout, payment and lines.
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=3, price=1500)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug, 2), 200, "add")
    key = str(uuid.uuid4())
    pending = expect(checkout(platform, shopper, key, token="tok_pending"), 202, "checkout while the gateway decides")
    reservation, payment_id = pending.body["checkout_id"], pending.body["payment_id"]
    # The sandbox settles tok_pending after 10 s; the reservation must outlive that (5 s here).
    product_sql(running, f"UPDATE reservations SET expires_at = now() + interval '1 hour' WHERE id = '{reservation}'")
    wait_until("the payment succeeded", lambda: payment_sql(
        running, f"SELECT status FROM payments WHERE id = '{payment_id}'") == "succeeded", timeout=60, interval=0.5)

    paid = expect(checkout(platform, shopper, key, token="tok_pending"), 201, "the retry once the payment went through")
    assert paid.body["status"] == "paid", paid.body
    for field in ["checkout_id", "payment_id", "lines", "total"]:
        assert paid.body[field] == pending.body[field], (field, paid.body, pending.body)
    assert product_sql(running, f"SELECT state FROM reservations WHERE id = '{reservation}'") == "committed"
    assert_available(platform, mug, 1, "two units sold")
    assert call("GET", f"{platform.cart}/v1/cart", token=shopper.token).body["lines"] == [], "bought: out of the cart"
    again = expect(checkout(platform, shopper, key, token="tok_pending"), 201, "a later retry")
    assert again.body == paid.body
    assert payments_of(running, [shopper.user_id]) == 1, "charged once"


def test_a_paid_order_whose_release_payment_never_read_is_refunded_by_the_sweeper(platform, running):
    # Issue 36, item 4: payment refunded an unsold checkout's charge only on product's
    # ReservationReleased; a consumer past the topic's retention would never read it, and the
    # money stayed. Here payment is down while the reservation expires, and the release is
    # marked read before it starts again (as if the topic had dropped it): only the sweeper,
    # asking product where the paid order's reservation stands, can find the charge unsold.
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=2)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add")
    pending = expect(checkout(platform, shopper, token="tok_pending"), 202, "checkout while the gateway decides")
    reservation, payment_id = pending.body["checkout_id"], pending.body["payment_id"]
    running.kill("payment-service")
    wait_until("the reservation expired (5 s TTL)", lambda: product_sql(
        running, f"SELECT state FROM reservations WHERE id = '{reservation}'") == "expired", timeout=20)
    released = product_sql(running, "SELECT event_id FROM outbox WHERE event_type LIKE '%ReservationReleased' "
                                    f"AND aggregate_id = '{reservation}'")
    assert released, "product announced the release"
    payment_sql(running, f"INSERT INTO processed_events (event_id, topic) VALUES ('{released}', 'lost')")
    running.start("payment-service")
    running.wait_ready(platform.payment)

    def refunded():
        return payment_sql(running, f"SELECT status FROM payments WHERE id = '{payment_id}'") == "refunded"

    # The sandbox settles tok_pending 10 s after the charge; the sweeper asks 3 s after that.
    wait_until("the sweeper refunded the unsold order's charge", refunded, timeout=60, interval=0.5)
    assert payment_sql(running, f"SELECT count(*) FROM refunds WHERE payment_id = '{payment_id}'") == "1"
    assert payment_sql(running, f"SELECT reason FROM released_orders WHERE order_id = '{reservation}'") == "swept"
    metrics = call("GET", f"{platform.payment}/metrics").body
    swept = re.search(r'^payment_sale_checks_total\{verdict="released"\} (\d+)$', metrics, re.M)
    assert swept and int(swept.group(1)) >= 1, metrics[-2000:]


def test_a_checkout_declined_late_gives_its_stock_back_at_once_not_at_expiry(platform, running):
    # Finding 10: nothing consumed PaymentFailed, so a checkout whose charge was declined after
    # a `pending` answer held its stock until the reservation expired.
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=2)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug, 2), 200, "add")
    pending = expect(checkout(platform, shopper, token="tok_pending_declined"), 202, "checkout")
    reservation = pending.body["checkout_id"]
    wait_until("the reservation closed", lambda: product_sql(
        running, f"SELECT state FROM reservations WHERE id = '{reservation}'") != "reserved", timeout=20)
    assert product_sql(running, f"SELECT state FROM reservations WHERE id = '{reservation}'") == "released", \
        "released on PaymentFailed, before its expiry"
    assert_available(platform, mug, 2)
    assert payment_sql(running, f"SELECT status FROM payments WHERE id = '{pending.body['payment_id']}'") == "failed"


def test_a_retry_after_redis_lost_only_the_checkout_record_resumes_its_own_reservation(platform, running):
    # Finding 4, and the review of its fix: the checkout reserved the last unit (its own
    # reservation marks the line unavailable), payment was down (503); Redis then lost the
    # checkout's record but not the cart. The retry must resume, not answer 409 and free the key.
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=1)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add")
    key = str(uuid.uuid4())
    running.kill("payment-service")
    try:
        expect(checkout(platform, shopper, key), 503, "checkout with payment down")
        wait_until("the line marked unavailable by the checkout's own reservation", lambda: not call(
            "GET", f"{platform.cart}/v1/cart", token=shopper.token).body["lines"][0]["available"], timeout=4)
        subprocess.run(["redis-cli", "DEL", f"cart:checkout:{shopper.user_id}:{key}"], check=True, capture_output=True)
    finally:
        running.start("payment-service")
        running.wait_ready(platform.payment)
    paid = expect(checkout(platform, shopper, key), 201, "the retry with the same key")
    assert paid.body["checkout_id"] == checkout_id(shopper.user_id, key)
    assert payments_of(running, [shopper.user_id]) == 1
    assert_available(platform, mug, 0, "the one unit sold once")


def test_a_payment_for_less_than_the_reservation_sells_nothing_and_is_refunded(platform, running):
    # Issue 22, item 4: nothing compared a payment's amount with what it paid for, and cart's
    # PaymentSucceeded consumer committed whatever reservation the order id named. Here the
    # payment is made to say 1 cent (as a caller with its own lines would); the consumer must
    # not turn that into a sale.
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=3, price=4000)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add")
    pending = expect(checkout(platform, shopper, token="tok_pending"), 202, "checkout while the gateway decides")
    reservation, payment_id = pending.body["checkout_id"], pending.body["payment_id"]
    # The sandbox settles tok_pending after 10 s; keep the reservation alive past that, so that
    # only the amount can stop the commit.
    product_sql(running, f"UPDATE reservations SET expires_at = now() + interval '1 hour' WHERE id = '{reservation}'")
    payment_sql(running, f"UPDATE payments SET amount_minor = 1 WHERE id = '{payment_id}'")

    def succeeded_event_consumed():
        event = payment_sql(running, "SELECT event_id FROM outbox WHERE event_type LIKE '%PaymentSucceeded' "
                                     f"AND aggregate_id IN ('{payment_id}', '{shopper.user_id}', '{reservation}')")
        if not event:
            return False
        seen = subprocess.run(["redis-cli", "EXISTS", f"cart:event:{event}"], capture_output=True, text=True)
        return seen.stdout.strip() == "1"

    # As long as a consumer group may take to forget a killed member (the tests before kill cart
    # and payment): see the test above.
    wait_until("cart consumed the 1-cent PaymentSucceeded", succeeded_event_consumed, timeout=120, interval=0.5)
    assert product_sql(running, f"SELECT state FROM reservations WHERE id = '{reservation}'") == "reserved", \
        "a 1-cent payment committed a 40 € reservation"
    assert product_sql(running, f"SELECT on_hand FROM products WHERE id = '{mug}'") == "3", "nothing sold"

    # Its expiry gives the stock back and announces the release: payment refunds the cent.
    product_sql(running, f"UPDATE reservations SET expires_at = now() WHERE id = '{reservation}'")
    wait_until("the stock is back", lambda: product_available(platform, mug) == 3, timeout=15)
    wait_until("the payment refunded", lambda: payment_sql(
        running, f"SELECT status FROM payments WHERE id = '{payment_id}'") == "refunded", timeout=120, interval=0.5)
    lines = call("GET", f"{platform.cart}/v1/cart", token=shopper.token).body["lines"]
    assert [line["product_id"] for line in lines] == [mug], "the cart is kept: nothing was bought"
