"""`make demo`: a scripted customer journey against the running platform (`make run`), printed
step by step. The end-to-end tests run the same journey and assert each step."""
import sys
import time
import uuid

from shop import Platform, admin, call, create_product, expect, sign_up, wait_until


def journey(platform: Platform, say=print) -> dict:
    say("1. A shopper signs up and logs in")
    alice = sign_up(platform)
    say(f"   {alice.email} (user {alice.user_id})")

    say("2. Browsing the catalogue")
    page = expect(call("GET", f"{platform.product}/v1/products?page_size=5&in_stock=true"), 200, "browse").body
    for product in page["products"][:3]:
        say(f"   {product['name']:<32} {product['price']['amount_minor'] / 100:>8.2f} {product['price']['currency']}"
            f"  ({product['available']} available)")

    say("3. An admin stocks two products for the demo")
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=10, price=1250, name="Demo enamel mug")
    tea = create_product(platform, boss.token, stock=10, price=890, name="Demo green tea")
    say(f"   {mug} and {tea}")

    say("4. Alice adds two products to her cart")
    expect(call("POST", f"{platform.cart}/v1/cart/items", {"product_id": mug, "quantity": 2}, alice.token), 200, "add mug")
    cart = expect(call("POST", f"{platform.cart}/v1/cart/items", {"product_id": tea, "quantity": 1}, alice.token), 200,
                  "add tea").body
    for line in cart["lines"]:
        say(f"   {line['quantity']} x {line['name']:<24} {line['unit_price']['amount_minor'] / 100:>8.2f}")
    say(f"   total {cart['total']['amount_minor'] / 100:.2f} {cart['total']['currency']}")

    say("5. Alice checks out (Idempotency-Key, sandbox card tok_visa)")
    key = str(uuid.uuid4())
    paid = expect(call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_token": "tok_visa"}, alice.token,
                       {"Idempotency-Key": key}), 201, "checkout").body
    say(f"   paid: payment {paid['payment_id']}, {paid['total']['amount_minor'] / 100:.2f} {paid['total']['currency']}")
    emptied = expect(call("GET", f"{platform.cart}/v1/cart", token=alice.token), 200, "cart after checkout").body
    assert emptied["lines"] == [], emptied
    say("   her cart is empty again")

    say("6. The order shows in Alice's order history (auth, from payment events)")
    orders = wait_until("the order in auth's history", lambda: [
        o for o in expect(call("GET", f"{platform.auth}/v1/auth/me/orders", token=alice.token), 200, "orders").body["orders"]
        if o.get("payment_id") == paid["payment_id"]])
    say(f"   order {orders[0].get('order_id', '')} for {orders[0]['total']['amount_minor'] / 100:.2f}")

    say("7. Bob puts the mug in his cart; the admin then sets its stock to 0")
    bob = sign_up(platform)
    expect(call("POST", f"{platform.cart}/v1/cart/items", {"product_id": mug, "quantity": 1}, bob.token), 200, "bob adds")
    expect(call("POST", f"{platform.product}/v1/products/{mug}/stock", {"set": 0}, boss.token), 200, "stock to 0")
    started = time.monotonic()
    line = wait_until("Bob's line marked unavailable", lambda: next(
        (l for l in call("GET", f"{platform.cart}/v1/cart", token=bob.token).body["lines"] if not l["available"]), None),
        timeout=10, interval=0.1)
    seconds = time.monotonic() - started
    say(f"   Bob's cart shows '{line['name']}' as unavailable after {seconds:.1f} s")
    return {"alice": alice, "bob": bob, "paid": paid, "mug": mug, "tea": tea, "unavailable_after": seconds}


if __name__ == "__main__":
    try:
        journey(Platform())
    except AssertionError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        sys.exit(1)
    print("demo finished: every step worked")
