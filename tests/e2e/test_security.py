"""Security across the platform: forged tokens, one shopper's data out of another's reach,
security headers, size limits, and no secret in any service's log."""
import base64
import hashlib
import hmac
import json
import uuid

from shop import admin, call, create_product, expect, sign_up

PASSWORD_LIKE_A_SECRET = "e2e secret passphrase " + uuid.uuid4().hex


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forged_tokens(platform, real_token: str, other_user_id: str) -> dict:
    """Tokens an attacker can make without auth's private key, from a real one and the JWKS."""
    header, payload, signature = real_token.split(".")
    claims = json.loads(unb64url(payload))
    jwk = expect(call("GET", f"{platform.auth}/.well-known/jwks.json"), 200, "JWKS").body["keys"][0]

    def token(head: dict, body: dict, sign) -> str:
        signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(body).encode())}"
        return f"{signing_input}.{sign(signing_input.encode())}"

    def hs256(secret: bytes):
        return lambda data: b64url(hmac.new(secret, data, hashlib.sha256).digest())

    stolen_identity = {**claims, "sub": other_user_id}
    return {
        "alg none": token({"alg": "none", "typ": "JWT", "kid": jwk["kid"]}, claims, lambda _: ""),
        "alg confusion (HS256 keyed with the public key)":
            token({"alg": "HS256", "typ": "JWT", "kid": jwk["kid"]}, claims, hs256(unb64url(jwk["x"]))),
        "alg confusion (HS256 keyed with the JWK text)":
            token({"alg": "HS256", "typ": "JWT", "kid": jwk["kid"]}, claims, hs256(jwk["x"].encode())),
        "another user's sub under a real signature": f"{header}.{b64url(json.dumps(stolen_identity).encode())}.{signature}",
        "unknown kid": token({"alg": "EdDSA", "typ": "JWT", "kid": "not-a-key-of-auth"}, claims, lambda _: signature),
        "truncated signature": f"{header}.{payload}.{signature[:-4]}",
        "garbage": "not.a.token",
    }


def test_forged_tokens_are_refused_by_every_rest_api_that_takes_tokens(platform):
    victim, attacker = sign_up(platform), sign_up(platform)
    boss = admin(platform)
    product = {"sku": f"E2E-{uuid.uuid4().hex[:12]}", "name": "Forged", "price": {"amount_minor": 100, "currency": "EUR"}}
    routes = [("GET", f"{platform.cart}/v1/cart", None), ("GET", f"{platform.auth}/v1/auth/me", None),
              ("GET", f"{platform.auth}/v1/auth/me/orders", None), ("POST", f"{platform.product}/v1/products", product)]
    for name, token in {**forged_tokens(platform, attacker.token, victim.user_id),
                        **forged_tokens(platform, boss.token, victim.user_id)}.items():
        for method, url, body in routes:
            answer = call(method, url, body, token)
            assert answer.status == 401, f"{name}: {method} {url} answered {answer.status} {answer.body}"
            assert answer.body["error"]["code"], answer.body


def test_one_shopper_cannot_read_or_use_anothers_cart_orders_or_checkout(platform):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=5)
    alice, mallory = sign_up(platform), sign_up(platform)
    expect(call("POST", f"{platform.cart}/v1/cart/items", {"product_id": mug, "quantity": 2}, alice.token), 200, "add")
    key = str(uuid.uuid4())
    paid = expect(call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_token": "tok_visa"}, alice.token,
                       {"Idempotency-Key": key}), 201, "Alice's checkout")
    expect(call("POST", f"{platform.cart}/v1/cart/items", {"product_id": mug, "quantity": 1}, alice.token), 200, "add")

    # Mallory's cart is her own: empty, whatever she sends.
    assert call("GET", f"{platform.cart}/v1/cart", token=mallory.token).body["lines"] == []
    # Alice's checkout key replays nothing for Mallory: keys belong to their user.
    replay = call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_token": "tok_visa"}, mallory.token,
                  {"Idempotency-Key": key})
    assert replay.status == 409 and replay.body["error"]["code"] == "cart_empty", replay.body
    assert paid.body["checkout_id"] not in json.dumps(replay.body)
    # Clearing or editing is her own cart too: Alice's line survives.
    expect(call("DELETE", f"{platform.cart}/v1/cart", token=mallory.token), 204, "Mallory clears her cart")
    edit = call("PATCH", f"{platform.cart}/v1/cart/items/{mug}", {"quantity": 9}, mallory.token)
    assert edit.status == 404, edit.body
    lines = call("GET", f"{platform.cart}/v1/cart", token=alice.token).body["lines"]
    assert [(l["product_id"], l["quantity"]) for l in lines] == [(mug, 1)]
    # Orders: Mallory's history holds none of Alice's.
    orders = expect(call("GET", f"{platform.auth}/v1/auth/me/orders", token=mallory.token), 200, "orders").body
    assert paid.body["checkout_id"] not in json.dumps(orders) and paid.body["payment_id"] not in json.dumps(orders)


def test_rest_responses_carry_security_headers(platform):
    shopper = sign_up(platform)
    for method, url, token in [("GET", f"{platform.cart}/v1/cart", shopper.token), ("GET", f"{platform.cart}/v1/cart", None),
                               ("GET", f"{platform.product}/v1/products", None), ("GET", f"{platform.auth}/v1/auth/me", shopper.token)]:
        answer = call(method, url, token=token)
        assert answer.headers.get("x-content-type-options") == "nosniff", (url, answer.headers)
        assert answer.headers.get("x-frame-options") == "DENY", url
        assert "default-src 'none'" in answer.headers.get("content-security-policy", ""), url
        assert answer.headers.get("cache-control"), url
    assert call("GET", f"{platform.cart}/v1/cart", token=shopper.token).headers["cache-control"] == "no-store"


def test_oversized_bodies_and_headers_are_refused_with_a_4xx(platform):
    shopper, boss = sign_up(platform), admin(platform)
    huge = {"product_id": "x" * (2 * 1024 * 1024), "quantity": 1}
    # Each route checks the caller before it reads the body: the admin route gets an admin.
    for url, token in [(f"{platform.cart}/v1/cart/items", shopper.token), (f"{platform.auth}/v1/auth/login", None),
                       (f"{platform.product}/v1/products", boss.token)]:
        answer = call("POST", url, huge, token)
        assert answer.status == 413, (url, answer.status, answer.body)
    for base in [platform.cart, platform.product, platform.auth]:
        answer = call("GET", f"{base}/healthz", headers={"X-Padding": "p" * (20 * 1024)})
        assert answer.status == 431 and answer.body["error"]["code"] == "headers_too_large", (base, answer.status)


def test_no_secret_reaches_any_service_log(platform, running):
    """Run last in this file: a journey with distinctive secrets, then every log is searched."""
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=2)
    shopper = sign_up(platform, password=PASSWORD_LIKE_A_SECRET)
    login = expect(call("POST", f"{platform.auth}/v1/auth/login",
                        {"email": shopper.email, "password": PASSWORD_LIKE_A_SECRET}), 200, "login").body
    wrong = call("POST", f"{platform.auth}/v1/auth/login", {"email": shopper.email, "password": PASSWORD_LIKE_A_SECRET + "x"})
    assert wrong.status == 401
    expect(call("POST", f"{platform.cart}/v1/cart/items", {"product_id": mug, "quantity": 1}, login["access_token"]), 200, "add")
    expect(call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_token": "tok_visa"}, login["access_token"],
                {"Idempotency-Key": str(uuid.uuid4())}), 201, "checkout")
    expect(call("POST", f"{platform.auth}/v1/auth/refresh", {"refresh_token": login["refresh_token"]}), 200, "refresh")

    secrets_sent = {
        "password": PASSWORD_LIKE_A_SECRET,
        "access token signature": login["access_token"].split(".")[2],
        "refresh token": login["refresh_token"],
        "card token": "tok_visa",
    }
    for service in ["auth-service", "product-service", "cart-service", "payment-service"]:
        text = running.log(service).read_text(errors="replace")
        assert text.strip(), f"{service} logged nothing: the search would prove nothing"
        for what, secret in secrets_sent.items():
            assert secret not in text, f"{service}'s log holds the {what}"
