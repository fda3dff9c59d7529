"""Starts the four real services (the built binaries) for the end-to-end tests, on ports of their
own, against fresh databases (named like each service's test databases, so the services' own
test helpers drop them after an hour), topics of their own on the machine's broker, and the
machine's Redis. Reservations expire after 5 s here, so the tests can watch stock come back."""
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paypal_standin import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, PayPalStandIn
from shop import BINARIES, ROOT, Platform, call, wait_until

sys.path.insert(0, str(ROOT / "infra" / "local"))
import registry  # noqa: E402
import wiring  # noqa: E402
from topics import settings as topic_settings, topics  # noqa: E402

BROKER = "127.0.0.1:9092"
# The platform's ports (infra/local/platform.yaml) moved beside `make run`'s, and out of the
# kernel's ephemeral range (32768-60999) where an outgoing connection could hold one first:
# REST 19081-19084, gRPC 61051-61054.
OFFSET = 11000
WIRING = wiring.services(OFFSET)
PORTS = {name: (service.http, service.grpc) for name, service in WIRING.items()}
# The services with an event consumer, and how soon one started again after kill -9 must hold
# partitions again (static membership: tansu hands a returning instance its assignment back).
CONSUMERS = [name for name, service in WIRING.items() if service.consumes]
CONSUMER_RESTART_BOUND = 15
# A static member's session must outlast tansu's join: it pads a static JoinGroup and SyncGroup
# to 3 s each and counts them against the session, so with 6 s a member expired on its first
# heartbeat, rejoined, and never held a partition. 30 s also covers a restart that comes late.
STATIC_SESSION_MS = "30000"


def uuid7_hex() -> str:
    """A UUIDv7 without dashes (Python 3.11 has no uuid7): 48-bit milliseconds first."""
    millis = int(time.time() * 1000)
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (millis << 80) | (0x7 << 76) | (rand & ((1 << 76) - 1))
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return f"{value:032x}"


def create_databases(run: str) -> dict:
    names = {s: f"{s.split('-')[0]}_test_{run}" for s in ["auth-service", "product-service", "payment-service"]}
    for service in ["auth-service", "product-service"]:
        login = service.split("-")[0]
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", login, "-d", "postgres", "-qc",
                        f'CREATE DATABASE "{names[service]}"'], check=True, env={**os.environ, "PGPASSWORD": login})
    subprocess.run(["mysql", "-h127.0.0.1", "-upayment", "-ppayment", "-e",
                    f"CREATE DATABASE `{names['payment-service']}`"], check=True)
    return names


def create_topics(rename):
    """The catalogue's topics under `rename`'s names, their schemas in the broker's registry
    (infra/local/registry.py) first: the broker checks this run's records as it checks
    `make run`'s."""
    registry.write(registry.running(BROKER), rename)
    tansu = shutil.which("tansu") or str(Path.home() / ".cargo" / "bin" / "tansu")
    for name, partitions in topics(rename=rename):
        subprocess.run([tansu, "topic", "create", name, "--broker", f"tcp://{BROKER}", "--partitions", str(partitions)],
                       check=True, capture_output=True)


class Running:
    """The platform under test: its processes, logs and settings."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.run = uuid7_hex()
        self.databases = create_databases(self.run)
        # The catalogue's topics and wiring (contracts/events/topics.yaml), under names of this run.
        rename = lambda name: f"e2e.{self.run}.{name}"  # noqa: E731
        self.topics = {name.split(".")[0]: rename(name) for name, _ in topics() if not name.endswith(".dlq")}
        create_topics(rename)
        wiring = topic_settings(rename)
        self.processes: dict[str, subprocess.Popen] = {}
        # The platform's own CA and one workload certificate per service (infra/local/pki.sh):
        # internal gRPC is mutual TLS here as in `make run`.
        self.pki = tmp / "pki"
        subprocess.run(["bash", str(ROOT / "infra" / "local" / "pki.sh"), str(self.pki)], check=True,
                       capture_output=True)
        self.binaries = BINARIES
        auth_http = PORTS["auth-service"][0]
        # PayPal's API (the outside world): its webhooks go to payment's REST port.
        self.paypal = PayPalStandIn()
        self.paypal.webhook_url = f"http://127.0.0.1:{PORTS['payment-service'][0]}/v1/webhooks/paypal"
        self.env = {
            "auth-service": {
                "AUTH_DATABASE_URL": f"postgres://auth:auth@127.0.0.1:5432/{self.databases['auth-service']}",
                "AUTH_KAFKA_GROUP_ID": f"e2e-auth-{self.run}",
                "AUTH_KAFKA_SESSION_TIMEOUT_MS": STATIC_SESSION_MS,
                "AUTH_TLS_DIR": str(self.pki / "auth-service"),
                "AUTH_TLS_RELOAD_INTERVAL_MS": "500",
            },
            "product-service": {
                "PRODUCT_DATABASE_URL": f"postgres://product:product@127.0.0.1:5432/{self.databases['product-service']}",
                "PRODUCT_AUTH_JWKS_URL": f"http://127.0.0.1:{auth_http}/.well-known/jwks.json",
                "PRODUCT_AUTH_GRPC_URL": f"https://127.0.0.1:{PORTS['auth-service'][1]}",
                "PRODUCT_RESERVATION_TTL_SECS": "5",
                "PRODUCT_RESERVATION_EXPIRY_INTERVAL_MS": "500",
                "PRODUCT_TLS_DIR": str(self.pki / "product-service"),
                # A rotated certificate is taken within half a second (test_y_rotation.py).
                "PRODUCT_TLS_RELOAD_INTERVAL_MS": "500",
            },
            "payment-service": {
                "PAYMENT_DATABASE_URL": f"mysql://payment:payment@127.0.0.1:3306/{self.databases['payment-service']}",
                "PAYMENT_KAFKA_GROUP_ID": f"e2e-payment-{self.run}",
                "PAYMENT_KAFKA_SESSION_TIMEOUT_MS": STATIC_SESSION_MS,
                # Pending charges are looked at again within a fifth of a second of being due.
                "PAYMENT_RECONCILE_INTERVAL_MS": "200",
                "PAYMENT_AUTH_JWKS_URL": f"http://127.0.0.1:{auth_http}/.well-known/jwks.json",
                "PAYMENT_AUTH_GRPC_URL": f"https://127.0.0.1:{PORTS['auth-service'][1]}",
                # The sweeper asks product about a paid order 3 s after its charge, every second.
                "PAYMENT_PRODUCT_GRPC_URL": f"https://127.0.0.1:{PORTS['product-service'][1]}",
                "PAYMENT_TLS_DIR": str(self.pki / "payment-service"),
                "PAYMENT_TLS_RELOAD_INTERVAL_MS": "500",
                "PAYMENT_SWEEP_INTERVAL_MS": "1000",
                "PAYMENT_SWEEP_GRACE_SECS": "3",
                "PAYMENT_PAYPAL_API_BASE": self.paypal.url,
                "PAYMENT_PAYPAL_CLIENT_ID": CLIENT_ID,
                "PAYMENT_PAYPAL_CLIENT_SECRET": CLIENT_SECRET,
                "PAYMENT_PAYPAL_WEBHOOK_ID": WEBHOOK_ID,
                # This platform has no storefront: the buyer comes back to the checkout's state.
                "PAYMENT_PAYPAL_RETURN_URL": f"http://127.0.0.1:{PORTS['cart-service'][0]}/v1/cart/checkout/{{order_id}}",
                "PAYMENT_PAYPAL_CANCEL_URL": f"http://127.0.0.1:{PORTS['cart-service'][0]}/v1/cart/checkout/{{order_id}}",
            },
            "cart-service": {
                "CART_AUTH_URL": f"http://127.0.0.1:{auth_http}",
                "CART_AUTH_GRPC_URL": f"https://127.0.0.1:{PORTS['auth-service'][1]}",
                "CART_PRODUCT_GRPC_URL": f"https://127.0.0.1:{PORTS['product-service'][1]}",
                "CART_PAYMENT_GRPC_URL": f"https://127.0.0.1:{PORTS['payment-service'][1]}",
                "CART_TLS_DIR": str(self.pki / "cart-service"),
                # Its client certificate is looked at again every round of its discovery.
                "CART_UPSTREAM_RESOLVE_INTERVAL_MS": "500",
                "CART_KAFKA_GROUP_ID": f"e2e-cart-{self.run}",
                "CART_KAFKA_SESSION_TIMEOUT_MS": STATIC_SESSION_MS,
                "CART_UPSTREAM_TIMEOUT_MS": "2000",
            },
        }
        for service, (http, grpc) in PORTS.items():
            self.env[service].update(wiring.get(service, {}))
            prefix = WIRING[service].prefix
            self.env[service][f"{prefix}_HTTP_PORT"] = str(http)
            if grpc:
                self.env[service][f"{prefix}_GRPC_PORT"] = str(grpc)
        self.platform = Platform(auth=f"http://127.0.0.1:{auth_http}",
                                 product=f"http://127.0.0.1:{PORTS['product-service'][0]}",
                                 cart=f"http://127.0.0.1:{PORTS['cart-service'][0]}",
                                 payment=f"http://127.0.0.1:{PORTS['payment-service'][0]}",
                                 auth_env=self.env["auth-service"], binaries=self.binaries)

    def log(self, service: str) -> Path:
        return self.tmp / f"{service}.log"

    def start(self, service: str, extra_env: dict | None = None, name: str | None = None):
        name = name or service
        clean = {k: v for k, v in os.environ.items() if not k.startswith(tuple(f"{s.prefix}_" for s in WIRING.values()))}
        # Static group membership, one id per process name: a process started again under its
        # name takes its partitions back at once instead of waiting out the dead one's session.
        identity = {f"{WIRING[service].prefix}_KAFKA_GROUP_INSTANCE_ID": name} if service in CONSUMERS else {}
        out = open(self.log(name), "ab")
        self.processes[name] = subprocess.Popen([str(self.binaries / service)], stdout=out, stderr=subprocess.STDOUT,
                                                env={**clean, **self.env[service], **identity, **(extra_env or {})})

    def kill(self, name: str):
        """kill -9: no shutdown, no drain, whatever was in flight is cut off."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop(self, name: str):
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def assigned_partitions(self, base: str) -> int:
        """The service's `kafka_consumer_assigned_partitions` gauge (0 while it joins its group)."""
        try:
            text = call("GET", f"{base}/metrics", timeout=2).body
        except OSError:
            return 0
        for line in str(text).splitlines():
            if line.startswith("kafka_consumer_assigned_partitions "):
                return int(float(line.split()[1]))
        return 0

    def wait_consuming(self, base: str, timeout: float = CONSUMER_RESTART_BOUND) -> float:
        """Waits for the signal that a (re)started consumer holds partitions again; the seconds
        it took. The services promise this within CONSUMER_RESTART_BOUND of a restart."""
        started = time.monotonic()
        wait_until(f"{base}'s consumer holds partitions", lambda: self.assigned_partitions(base) > 0,
                   timeout=timeout, interval=0.2)
        return time.monotonic() - started

    def wait_ready(self, base: str, timeout: float = 90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if call("GET", f"{base}/readyz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{base} not ready within {timeout} s")


@pytest.fixture(scope="session")
def running(tmp_path_factory):
    missing = [s for s in PORTS if not (BINARIES / s).exists()]
    assert not missing, f"build the services first (make build): {missing}"
    platform = Running(tmp_path_factory.mktemp("e2e"))
    try:
        for service in PORTS:
            platform.start(service)
        for service, (http, _) in PORTS.items():
            platform.wait_ready(f"http://127.0.0.1:{http}")
        yield platform
    finally:
        for name in list(platform.processes):
            platform.stop(name)


@pytest.fixture(scope="session")
def platform(running) -> Platform:
    return running.platform
