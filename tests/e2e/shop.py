"""A small client of the platform's REST APIs (standard library only), for the demo and the
end-to-end tests."""
import json
import secrets
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where `make build` put the binaries: the Makefile's CARGO_TARGET_DIR (.ci/run shares one folder
# across clones), else the checkout's own target/.
BINARIES = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / os.environ.get("PROFILE", "debug")


@dataclass
class Response:
    status: int
    body: object
    headers: dict
    seconds: float


@dataclass
class Platform:
    auth: str = "http://127.0.0.1:8081"
    product: str = "http://127.0.0.1:8082"
    cart: str = "http://127.0.0.1:8083"
    payment: str = "http://127.0.0.1:8084"
    # Environment for `auth-service create-admin` (its database).
    auth_env: dict = field(default_factory=dict)
    binaries: Path = BINARIES
    # How to run auth-service's own command line; default: the built binary. The compose test
    # runs it inside the auth-service container (`docker exec -i <id> /usr/local/bin/auth-service`).
    auth_command: list = field(default_factory=list)


def call(method: str, url: str, body=None, token: str | None = None, headers: dict | None = None,
         timeout: float = 15) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, got = error.read(), error.code, dict(error.headers)
    text = raw.decode() if raw else ""
    try:
        parsed = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = text
    return Response(status, parsed, {k.lower(): v for k, v in got.items()}, time.monotonic() - started)


def expect(response: Response, status: int, what: str) -> Response:
    assert response.status == status, f"{what}: expected {status}, got {response.status} {response.body}"
    return response


@dataclass
class Shopper:
    email: str
    token: str
    user_id: str


def sign_up(platform: Platform, password: str = "correct horse battery staple") -> Shopper:
    email = f"shopper-{uuid.uuid4().hex[:12]}@example.com"
    created = expect(call("POST", f"{platform.auth}/v1/auth/signup", {"email": email, "password": password}), 201, "sign-up")
    return log_in(platform, email, password, created.body["user_id"])


def log_in(platform: Platform, email: str, password: str, user_id: str = "") -> Shopper:
    login = expect(call("POST", f"{platform.auth}/v1/auth/login", {"email": email, "password": password}), 200, "login")
    return Shopper(email, login.body["access_token"], user_id)


def admin(platform: Platform) -> Shopper:
    """An admin account, made with auth-service's own command (password on standard input)."""
    email, password = f"admin-{uuid.uuid4().hex[:12]}@example.com", "an admin's long passphrase"
    command = platform.auth_command or [str(platform.binaries / "auth-service")]
    subprocess.run([*command, "create-admin", email], input=password.encode(),
                   env={**os.environ, **platform.auth_env}, check=True, capture_output=True)
    return log_in(platform, email, password)


def create_product(platform: Platform, admin_token: str, stock: int, price: int = 1250, name: str = "E2E mug") -> str:
    body = {"sku": f"E2E-{uuid.uuid4().hex[:12]}", "name": name,
            "price": {"amount_minor": price, "currency": "EUR"}, "stock": stock}
    return expect(call("POST", f"{platform.product}/v1/products", body, admin_token), 201, "create product").body["id"]


def wait_until(what: str, check, timeout: float = 20, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(interval)


def traced_checkout(platform: Platform) -> str:
    """A shopper buys one new product with a W3C traceparent of the caller's; returns its trace id."""
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=2)
    shopper = sign_up(platform)
    expect(call("POST", f"{platform.cart}/v1/cart/items", {"product_id": mug, "quantity": 1}, shopper.token), 200, "add")
    trace_id = secrets.token_hex(16)
    expect(call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_token": "tok_visa"}, shopper.token,
                {"Idempotency-Key": str(uuid.uuid4()), "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}),
           201, "checkout")
    return trace_id
