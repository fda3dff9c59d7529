"""The consistency auditor (auditor/, `make audit`) over the stores of this run.
Named to run last (pytest takes files in name order): it audits what every other test did —
declined cards, payment and Redis outages, concurrent checkouts — and finds nothing; and it
does find each kind of inconsistency planted in those stores."""
import json
import os
import subprocess
import uuid

from shop import BINARIES, admin, create_product, wait_until

AUDITOR = BINARIES / "auditor"  # make e2e builds it


def audit(running, grace: int = 5) -> list[dict]:
    env = {**os.environ, "AUDIT_AUTH_DB": running.databases["auth-service"],
           "AUDIT_PRODUCT_DB": running.databases["product-service"], "AUDIT_PAYMENT_DB": running.databases["payment-service"]}
    out = subprocess.run([str(AUDITOR), "--json", "--grace", str(grace)], env=env, capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def sql(running, service: str, statement: str):
    if service == "payment-service":
        subprocess.run(["mysql", "-h127.0.0.1", "-upayment", "-ppayment", "-e", statement, running.databases[service]], check=True)
    else:
        login = service.split("-")[0]
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", login, "-d", running.databases[service], "-Xqc", statement],
                       check=True, env={**os.environ, "PGPASSWORD": login})


def test_everything_the_other_tests_did_audits_clean(running):
    # Relays and consumers finish their last few rows within seconds.
    wait_until("a clean audit", lambda: audit(running) == [], timeout=30, interval=1)


def test_the_auditor_finds_each_planted_inconsistency(platform, running):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=5)
    ghost_payment, ghost_checkout = str(uuid.uuid4()), f"audit-{uuid.uuid4()}"
    sql(running, "product-service", f"UPDATE products SET reserved = reserved + 1 WHERE id = '{mug}'")
    sql(running, "product-service", f"INSERT INTO reservations (id, state, expires_at, updated_at) "
                                    f"VALUES ('{ghost_checkout}', 'committed', now(), now() - interval '1 hour')")
    sql(running, "auth-service", f"INSERT INTO orders (payment_id, user_id, order_id, amount_minor, currency, lines, paid_at) "
                                 f"VALUES ('{ghost_payment}', '{uuid.uuid4()}', 'nowhere', 100, 'EUR', '[]', now())")
    # Charged twice for a checkout whose reservation is still open, and never announced. One
    # order has one live charge (a unique key since issue 36), so the second is the one way a
    # second can exist: a late success of a charge booked declined, left unrefunded.
    twice, charges = f"audit-{uuid.uuid4()}", [str(uuid.uuid4()), str(uuid.uuid4())]
    sql(running, "product-service", f"INSERT INTO reservations (id, state, expires_at, updated_at) "
                                    f"VALUES ('{twice}', 'reserved', now() + interval '1 hour', now() - interval '1 hour')")
    for charge, late in zip(charges, ["FALSE", "TRUE"]):
        sql(running, "payment-service", "INSERT INTO payments (id, user_id, order_id, amount_minor, currency, status, gateway, "
                                        "order_lines, late_success, updated_at) VALUES "
                                        f"('{charge}', '{uuid.uuid4()}', '{twice}', 100, 'EUR', 'succeeded', 'sandbox', '[]', "
                                        f"{late}, NOW(6) - INTERVAL 1 HOUR)")
    try:
        found = {(v["check"], v.get("product_id") or v.get("payment_id") or v.get("order_id")) for v in audit(running)}
        assert ("stock", mug) in found, found
        assert ("committed", ghost_checkout) in found, found
        assert ("order", ghost_payment) in found, found
        assert ("double", twice) in found, found
        assert {("paid-open", c) for c in charges} | {("event", c) for c in charges} <= found, found
    finally:
        sql(running, "product-service", f"UPDATE products SET reserved = reserved - 1 WHERE id = '{mug}'")
        sql(running, "product-service", f"DELETE FROM reservations WHERE id IN ('{ghost_checkout}', '{twice}')")
        sql(running, "auth-service", f"DELETE FROM orders WHERE payment_id = '{ghost_payment}'")
        sql(running, "payment-service", f"DELETE FROM payments WHERE order_id = '{twice}'")
    assert audit(running) == []


def test_the_auditor_checks_stock_against_its_ledger_and_sales_against_payments(platform, running):
    boss = admin(platform)
    touched, unledgered, sold = (create_product(platform, boss.token, stock=5) for _ in range(3))
    # Stock changed behind the service's back; a ledger that lost its rows; a sale that the
    # ledger never saw, paid for with other lines than the reservation sold.
    checkout, payment = f"audit-{uuid.uuid4()}", str(uuid.uuid4())
    sql(running, "product-service", f"UPDATE products SET on_hand = on_hand + 2 WHERE id = '{touched}'")
    sql(running, "product-service", f"DELETE FROM stock_movements WHERE product_id = '{unledgered}'")
    sql(running, "product-service", f"INSERT INTO reservations (id, state, expires_at, updated_at) "
                                    f"VALUES ('{checkout}', 'committed', now(), now() - interval '1 hour')")
    sql(running, "product-service", f"INSERT INTO reservation_lines (reservation_id, product_id, quantity, name, "
                                    f"price_minor, currency) VALUES ('{checkout}', '{sold}', 1, 'E2E mug', 1250, 'EUR')")
    sql(running, "payment-service", "INSERT INTO payments (id, user_id, order_id, amount_minor, currency, status, gateway, "
                                    "order_lines, updated_at) VALUES "
                                    f"('{payment}', '{uuid.uuid4()}', '{checkout}', 2500, 'EUR', 'succeeded', 'sandbox', "
                                    f"'[{{\"product_id\": \"{sold}\", \"quantity\": 2}}]', NOW(6) - INTERVAL 1 HOUR)")
    sql(running, "payment-service", "INSERT INTO outbox (event_id, topic, aggregate_id, event_type, envelope, sent_at) "
                                    f"VALUES (UUID(), 'payment.events.v1', 'x', 'shop.events.v1.PaymentSucceeded', "
                                    f"'{payment}', NOW(6))")
    try:
        found = {(v["check"], v.get("product_id") or v.get("order_id"), v["detail"].split(" ")[0]) for v in audit(running)}
        assert ("ledger", touched, "1") in found, found  # "1 change(s) of stock made outside the service"
        assert ("ledger", unledgered, "on") in found, found  # "on hand 5 but the ledger adds up to 0"
        assert ("ledger", sold, "the") in found, found  # "the ledger sold 0 units, committed reservations 1"
        assert ("paid-lines", checkout, "paid") in found, found
    finally:
        sql(running, "product-service", f"UPDATE products SET on_hand = on_hand - 2 WHERE id = '{touched}'")
        sql(running, "product-service", f"DELETE FROM stock_movements WHERE product_id = '{touched}' AND reason = 'unexplained'")
        sql(running, "product-service", f"INSERT INTO stock_movements (product_id, delta, reason, on_hand) "
                                        f"VALUES ('{unledgered}', 5, 'initial', 5)")
        sql(running, "product-service", f"DELETE FROM reservations WHERE id = '{checkout}'")
        sql(running, "payment-service", f"DELETE FROM payments WHERE id = '{payment}'")
        sql(running, "payment-service", f"DELETE FROM outbox WHERE envelope = '{payment}'")
    assert audit(running) == []


def test_the_auditor_finds_refunds_that_never_end_and_refunds_the_order_history_missed(platform, running):
    # Issue "Checkout money invariants": refunds pending too long, order-history refunds missing.
    stuck, missed = str(uuid.uuid4()), str(uuid.uuid4())
    user = str(uuid.uuid4())
    for payment, status in [(stuck, "succeeded"), (missed, "refunded")]:
        sql(running, "payment-service", "INSERT INTO payments (id, user_id, order_id, amount_minor, currency, status, "
                                        "refunded_minor, gateway, order_lines, updated_at) VALUES "
                                        f"('{payment}', '{user}', 'audit-{payment}', 100, 'EUR', '{status}', 100, 'sandbox', "
                                        "'[]', NOW(6) - INTERVAL 1 HOUR)")
    sql(running, "payment-service", "INSERT INTO refunds (id, payment_id, amount_minor, currency, status, created_at, "
                                    f"updated_at) VALUES (UUID(), '{stuck}', 100, 'EUR', 'pending', NOW(6) - INTERVAL 1 HOUR, "
                                    "NOW(6) - INTERVAL 1 HOUR), (UUID(), "
                                    f"'{missed}', 100, 'EUR', 'succeeded', NOW(6) - INTERVAL 1 HOUR, NOW(6) - INTERVAL 1 HOUR)")
    sql(running, "auth-service", "INSERT INTO orders (payment_id, user_id, order_id, amount_minor, currency, lines, paid_at) "
                                 f"VALUES ('{missed}', '{user}', 'audit-{missed}', 100, 'EUR', '[]', now())")
    try:
        found = {(v["check"], v.get("payment_id")) for v in audit(running)}
        assert ("refund-stuck", stuck) in found, found
        assert ("history-refund", missed) in found, found
    finally:
        sql(running, "payment-service", f"DELETE FROM refunds WHERE payment_id IN ('{stuck}', '{missed}')")
        sql(running, "payment-service", f"DELETE FROM payments WHERE id IN ('{stuck}', '{missed}')")
        sql(running, "auth-service", f"DELETE FROM orders WHERE payment_id = '{missed}'")
    assert audit(running) == []


def test_the_auditor_finds_a_paypal_payment_still_waiting_after_its_stock_was_released(platform, running):
    # Issue 23: a PayPal payment ends when its reservation does (approval_expired). Planted: a
    # real PayPal checkout left to expire, its payment set back to pending.
    from shop import call, expect, sign_up
    from test_platform import add

    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=1, price=700, name="Audit PayPal mug")
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug, 1), 200, "add")
    started = expect(call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_method": "paypal"}, shopper.token,
                          {"Idempotency-Key": str(uuid.uuid4())}), 202, "a PayPal checkout")
    order = started.body["checkout_id"]
    wait_until("the unapproved PayPal payment failed", lambda: subprocess.run(
        ["mysql", "-h127.0.0.1", "-upayment", "-ppayment", "-N", "-e",
         f"SELECT status FROM payments WHERE order_id = '{order}'", running.databases["payment-service"]],
        capture_output=True, text=True).stdout.strip() == "failed", timeout=30, interval=0.5)
    sql(running, "product-service", f"UPDATE reservations SET updated_at = now() - interval '1 hour' WHERE id = '{order}'")
    sql(running, "payment-service", f"UPDATE payments SET status = 'pending' WHERE order_id = '{order}'")
    try:
        found = {(v["check"], v.get("order_id")) for v in audit(running)}
        assert ("approval-open", order) in found, found
    finally:
        sql(running, "payment-service", f"UPDATE payments SET status = 'failed' WHERE order_id = '{order}'")
    assert audit(running) == []
