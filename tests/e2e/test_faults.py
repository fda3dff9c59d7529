"""kill -9 of a service the checkout depends on (the short version of `make chaos`, which kills
under load, mid-call): shoppers checking out meanwhile get 503 with Retry-After (never a 500),
every shopper who retries with the same Idempotency-Key ends paid exactly once, and the stock
drops by exactly what was sold. The auditor (test_z_audit.py, run after this file) then reads
every store."""
import concurrent.futures
import time
import uuid

from conftest import CONSUMERS, PORTS
from shop import admin, call, create_product, expect, sign_up, wait_until
from test_platform import payments_of, product_available

SHOPPERS = 6


def checkout_until_paid(platform, shopper, seen: list, deadline: float) -> dict:
    key = str(uuid.uuid4())
    while time.monotonic() < deadline:
        try:
            answer = call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_token": "tok_visa"}, shopper.token,
                          {"Idempotency-Key": key}, timeout=10)
        except OSError as error:  # the cart itself is never killed here: this would be a finding
            seen.append(("transport", str(error)))
            time.sleep(0.5)
            continue
        seen.append((answer.status, answer.headers.get("retry-after")))
        if answer.status == 201:
            return answer.body
        time.sleep(min(float(answer.headers.get("retry-after", "1")), 2))
    raise AssertionError(f"{shopper.email} not paid before the deadline: {seen[-3:]}")


def test_checkouts_during_a_kill_9_get_503s_then_each_retry_is_paid_exactly_once(platform, running):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=100)
    for victim in ["payment-service", "product-service", "auth-service"]:
        port = PORTS[victim][0]
        shoppers = [sign_up(platform) for _ in range(SHOPPERS)]
        for shopper in shoppers:
            expect(call("POST", f"{platform.cart}/v1/cart/items", {"product_id": mug, "quantity": 1}, shopper.token),
                   200, "add")
        before = product_available(platform, mug)
        seen: list = []
        deadline = time.monotonic() + 60
        running.kill(victim)
        with concurrent.futures.ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
            futures = [pool.submit(checkout_until_paid, platform, s, seen, deadline) for s in shoppers]
            time.sleep(2)
            running.start(victim)
            running.wait_ready(f"http://127.0.0.1:{port}")
            if victim in CONSUMERS:
                running.wait_consuming(f"http://127.0.0.1:{port}")
            paid = [f.result() for f in futures]

        assert all(p["status"] == "paid" for p in paid), paid
        statuses = {status for status, _ in seen}
        assert statuses == {201, 503}, f"{victim}: {seen}"
        assert all(retry for status, retry in seen if status == 503), f"{victim}: a 503 without Retry-After: {seen}"
        assert payments_of(running, [s.user_id for s in shoppers]) == SHOPPERS, f"{victim}: one charge per shopper"
        wait_until(f"{victim}: stock down by exactly {SHOPPERS}",
                   lambda: product_available(platform, mug) == before - SHOPPERS, timeout=30)
