"""End-to-end: the four real services on their real stores and the real broker."""
import concurrent.futures
import json
import socket
import subprocess
import uuid

import broker
from demo import journey
from shop import admin, call, create_product, expect, sign_up, traced_checkout, wait_until


def product_available(platform, product_id) -> int:
    return expect(call("GET", f"{platform.product}/v1/products/{product_id}"), 200, "product").body["available"]


def assert_available(platform, product_id, expected: int, why: str = ""):
    """The catalogue's answer may be up to a second old (product-service caches hot reads, and
    stock movements do not clear that cache): the figure must settle on `expected`."""
    wait_until(f"{expected} available {why}", lambda: product_available(platform, product_id) == expected, timeout=3)


def add(platform, shopper, product_id, quantity=1):
    return call("POST", f"{platform.cart}/v1/cart/items", {"product_id": product_id, "quantity": quantity}, shopper.token)


def checkout(platform, shopper, key=None, token="tok_visa", headers=None):
    extra = {"Idempotency-Key": key or str(uuid.uuid4()), **(headers or {})}
    return call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_token": token}, shopper.token, extra)


def payments_of(running, user_ids) -> int:
    ids = ",".join(f"'{u}'" for u in user_ids)
    out = subprocess.run(["mysql", "-h127.0.0.1", "-upayment", "-ppayment", "-N", "-e",
                          f"SELECT count(*) FROM payments WHERE user_id IN ({ids})",
                          running.databases["payment-service"]], check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def test_the_demo_journey(platform):
    outcome = journey(platform, say=lambda _: None)
    assert outcome["paid"]["status"] == "paid"
    assert outcome["unavailable_after"] < 3, "an admin's stock change reaches other carts within a second or two"


def test_a_declined_card_keeps_the_cart_releases_the_stock_and_a_repeated_key_charges_once(platform, running):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=3)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug, 2), 200, "add")
    declined = checkout(platform, shopper, token="tok_chargeDeclined")
    assert declined.status == 402 and declined.body["error"]["code"] == "payment_declined", declined.body
    assert_available(platform, mug, 3, "the stock was released")
    assert len(call("GET", f"{platform.cart}/v1/cart", token=shopper.token).body["lines"]) == 1, "the cart is intact"

    key = str(uuid.uuid4())
    first = expect(checkout(platform, shopper, key), 201, "checkout")
    again = expect(checkout(platform, shopper, key), 201, "the same key again")
    assert again.body == first.body
    assert_available(platform, mug, 1)
    assert payments_of(running, [shopper.user_id]) == 2, "the decline and one charge; the repeat charged nothing"
    reused = checkout(platform, shopper, key, token="tok_mastercard")
    assert reused.status == 422 and reused.body["error"]["code"] == "idempotency_key_reused"


def test_twenty_shoppers_and_five_units_make_exactly_five_paid_orders(platform, running):
    boss = admin(platform)
    last = create_product(platform, boss.token, stock=5)
    shoppers = [sign_up(platform) for _ in range(20)]
    for shopper in shoppers:
        expect(add(platform, shopper, last), 200, "add")
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda s: checkout(platform, s), shoppers))
    statuses = sorted(a.status for a in answers)
    assert statuses.count(201) == 5 and statuses.count(409) == 15, [(a.status, a.body) for a in answers]
    # Refused for stock: out_of_stock, or lines_unavailable once cart has applied product's
    # ProductOutOfStock (sent when the fifth unit is reserved) before that checkout read its cart.
    # Seen once in CI under load; both say the same, and nothing else may come back.
    refused = [a.body["error"]["code"] for a in answers if a.status == 409]
    assert set(refused) <= {"out_of_stock", "lines_unavailable"}, refused
    assert_available(platform, last, 0)
    assert payments_of(running, [s.user_id for s in shoppers]) == 5, "the 15 refused were never charged"


def test_a_line_marked_unavailable_by_a_sell_out_is_refused_as_unavailable_and_nothing_is_charged(platform, running):
    """The other answer the twenty shoppers may get: once the last unit is sold, product's
    ProductOutOfStock marks the line unavailable in every cart holding it, and a checkout of such
    a cart is refused as lines_unavailable, holding and charging nothing."""
    boss = admin(platform)
    last = create_product(platform, boss.token, stock=1)
    first, second = sign_up(platform), sign_up(platform)
    for shopper in (first, second):
        expect(add(platform, shopper, last), 200, "add")
    expect(checkout(platform, first), 201, "the last unit sold")

    def line_of_second():
        lines = expect(call("GET", f"{platform.cart}/v1/cart", token=second.token), 200, "cart").body["lines"]
        return next(line for line in lines if line["product_id"] == last)

    wait_until("the sold-out line marked unavailable in the other cart", lambda: not line_of_second()["available"])
    refused = checkout(platform, second)
    assert (refused.status, refused.body["error"]["code"]) == (409, "lines_unavailable"), refused.body
    assert payments_of(running, [second.user_id]) == 0
    assert_available(platform, last, 0)


def test_with_payment_down_browsing_and_carts_work_and_checkout_fails_fast_holding_nothing(platform, running):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=4)
    shopper = sign_up(platform)
    running.stop("payment-service")
    try:
        expect(call("GET", f"{platform.product}/v1/products?page_size=3"), 200, "browse")
        expect(add(platform, shopper, mug, 2), 200, "add to cart")
        down = checkout(platform, shopper)
        assert down.status == 503 and "retry-after" in down.headers, down.body
        assert down.seconds < 5, f"answered within its deadline ({down.seconds:.1f} s)"
        # The reservation made before the charge failed expires (TTL 5 s here) and the stock returns.
        wait_until("the stock back after the reservation's expiry", lambda: product_available(platform, mug) == 4,
                   timeout=20)
    finally:
        running.start("payment-service")
        running.wait_ready(platform.payment)
        running.wait_consuming(platform.payment)


def test_with_redis_down_cart_answers_503_while_product_and_auth_keep_working(platform, running, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                              "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        cart_port = s.getsockname()[1]
    try:
        wait_until("the throwaway Redis", lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"],
                                                                   capture_output=True).returncode == 0)
        running.start("cart-service", {"CART_HTTP_PORT": str(cart_port), "CART_REDIS_URL": f"redis://127.0.0.1:{port}",
                                       "CART_KAFKA_GROUP_ID": f"e2e-cart-redis-{running.run}"}, name="cart-redis")
        cart = f"http://127.0.0.1:{cart_port}"
        running.wait_ready(cart)
        shopper = sign_up(platform)
        expect(call("GET", f"{cart}/v1/cart", token=shopper.token), 200, "cart with Redis up")
        redis.kill()
        redis.wait()
        down = call("GET", f"{cart}/v1/cart", token=shopper.token)
        assert down.status == 503 and down.body["error"]["code"] == "unavailable", down.body
        assert call("GET", f"{cart}/readyz").status == 503
        expect(call("GET", f"{platform.product}/v1/products?page_size=2"), 200, "product keeps working")
        expect(call("GET", f"{platform.auth}/v1/auth/me", token=shopper.token), 200, "auth keeps working")
    finally:
        redis.kill()
        if "cart-redis" in running.processes:
            running.stop("cart-redis")


def test_bad_input_gets_a_4xx_with_a_code(platform):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=2)
    shopper = sign_up(platform)
    for body, status in [({"product_id": mug, "quantity": 0}, 400), ({"product_id": mug, "quantity": 1000}, 400),
                         ({"product_id": str(uuid.uuid4()), "quantity": 1}, 404),
                         ({"product_id": "not-an-id", "quantity": 1}, 400)]:
        answer = call("POST", f"{platform.cart}/v1/cart/items", body, shopper.token)
        assert answer.status == status and answer.body["error"]["code"], (body, answer.body)
    expect(add(platform, shopper, mug), 200, "a good line")
    no_key = call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_token": "tok_visa"}, shopper.token)
    assert no_key.status == 400 and no_key.body["error"]["code"] == "invalid_request"
    empty = sign_up(platform)
    nothing = checkout(platform, empty)
    assert nothing.status == 409 and nothing.body["error"]["code"] == "cart_empty"


def test_a_revoked_session_cannot_check_out(platform):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=2)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add")
    expect(call("POST", f"{platform.auth}/v1/auth/logout", {}, shopper.token), 204, "logout")
    revoked = checkout(platform, shopper)
    # Introspection at checkout refuses it at once ("session_revoked"); once cart has consumed
    # auth's SessionRevoked event, its token check refuses it first ("unauthenticated").
    assert revoked.status == 401 and revoked.body["error"]["code"] in ("session_revoked", "unauthenticated"), \
        revoked.body
    assert_available(platform, mug, 2)


def test_a_logged_out_session_is_refused_by_every_service_before_its_tokens_expire(platform):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=2)
    shopper = sign_up(platform)
    expect(call("GET", f"{platform.cart}/v1/cart", token=shopper.token), 200, "cart before logout")
    expect(call("POST", f"{platform.auth}/v1/auth/logout", {}, shopper.token), 204, "shopper logout")
    # cart verifies tokens locally and learns of the revocation from auth's event.
    wait_until("cart refuses the logged-out session",
               lambda: call("GET", f"{platform.cart}/v1/cart", token=shopper.token).status == 401, timeout=10)
    expect(call("GET", f"{platform.auth}/v1/auth/me", token=shopper.token), 401, "auth refuses it")

    stock = f"{platform.product}/v1/products/{mug}/stock"
    expect(call("POST", stock, {"set": 3}, boss.token), 200, "admin before logout")
    expect(call("POST", f"{platform.auth}/v1/auth/logout", {}, boss.token), 204, "admin logout")
    refused = call("POST", stock, {"set": 0}, boss.token)
    assert refused.status == 401 and refused.body["error"]["code"] == "unauthenticated", refused.body
    assert_available(platform, mug, 3)


def test_one_checkout_is_one_trace_across_the_four_services(platform, running):
    trace_id = traced_checkout(platform)

    def logged_by_all():
        seen = set()
        for service in ["auth-service", "product-service", "payment-service", "cart-service"]:
            for line in running.log(service).read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if entry.get("span", {}).get("trace_id") == trace_id:
                    seen.add(service)
        return seen if len(seen) == 4 else None

    wait_until("the checkout's trace id in all four services' logs", logged_by_all, timeout=20)


def test_an_event_type_the_catalogue_does_not_list_is_dead_lettered_and_later_events_still_apply(platform, running):
    # The broker takes it (it is an Envelope: test_schema_registry.py has the records it refuses);
    # cart and payment, the product topic's consumers, each park it: contracts/events/topics.yaml
    # does not list the type, so no build of theirs can know what it means.
    topic = running.topics["product"]
    stranger = f"shop.events.v1.Unheard{uuid.uuid4().hex[:8]}"
    for partition in range(3):  # whichever partition the next good event lands on, the stranger is first
        accepted = broker.produce(topic, f"stranger-{partition}".encode(), broker.envelope(stranger, "p"), partition)
        assert accepted is None, f"the broker refused an Envelope: {accepted}"
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=3)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add")
    expect(call("POST", f"{platform.product}/v1/products/{mug}/stock", {"set": 0}, boss.token), 200, "stock to 0")
    wait_until("the good event applied after the unknown ones", lambda: not call(
        "GET", f"{platform.cart}/v1/cart", token=shopper.token).body["lines"][0]["available"])

    def parked(records):
        return [r for r in records if stranger.encode() in r.value()]
    dead = parked(broker.read(f"{topic}.dlq", lambda records: len(parked(records)) >= 6))
    # Both consumers of the topic (cart, and payment for ReservationReleased) park each one.
    assert len(dead) == 6, f"{len(dead)} of the 6 parked records in {topic}.dlq"
    for record in dead:
        assert f'event_type "{stranger}" is not in the catalogue of {topic}' in broker.header(record, "dlq-error")
    # payment names itself in `dlq-consumer`; cart, which parks only this topic's records, does not.
    by = sorted(broker.header(r, "dlq-consumer") or "cart-service" for r in dead)
    assert by == ["cart-service"] * 3 + ["payment-service"] * 3, by
