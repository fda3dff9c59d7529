"""Replicas behind the local proxy, as `make run REPLICAS=...` runs them: the same script
(infra/local/services.sh) on ports of its own (SHOP_PORT_OFFSET), against this run's fresh
databases and topics. Requests through the single entry reach several cart replicas, and
`kill -9` of a cart and then a product replica in the middle of a stream of shoppers fails no
read, gives every cut write its one true outcome once the client sends it again, and charges
no checkout twice; `stop` leaves no process behind."""
import os
import re
import subprocess
from pathlib import Path

import pytest

import wiring
from conftest import Running
from shop import BINARIES, ROOT, Platform, admin, call, create_product, expect, sign_up, wait_until
from shoppers import Stream
from test_z_audit import audit

SERVICES_SH = ROOT / "infra/local/services.sh"
OFFSET = 12000  # REST 20081-20484, gRPC 62051-62454 (above the ephemeral range), proxy 20080
PROXY = wiring.proxy(OFFSET)
ENTRY = f"http://127.0.0.1:{PROXY['entry']}"
REPLICAS = {"auth-service": 1, "product-service": 2, "cart-service": 3, "payment-service": 2}
WIRING = wiring.services(OFFSET)
STEP, _ = wiring.replicas()


def rest_port(service: str, i: int) -> int:
    return WIRING[service].http + STEP * (i - 1)


def name_of(service: str, i: int) -> str:
    return service if i == 1 else f"{service}-{i}"


class Replicated:
    """The platform as services.sh runs it, with this run's stores."""

    def __init__(self, tmp: Path):
        stores = Running(tmp)  # fresh databases and topics, and the e2e settings
        self.databases = stores.databases
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "PRODUCT_", "CART_", "PAYMENT_"))}
        for settings in stores.env.values():
            env.update(settings)  # services.sh sets the ports and the addresses of what each calls
        # A reservation lives as long as it does in production: a checkout cut by a replica's
        # death is resumed by its retry once its record is stale (30 s), not found expired.
        for short in ["PRODUCT_RESERVATION_TTL_SECS", "PRODUCT_RESERVATION_EXPIRY_INTERVAL_MS"]:
            env.pop(short, None)
        self.state = tmp / "state"
        self.env = {**env, "SHOP_STATE_DIR": str(self.state), "SHOP_PORT_OFFSET": str(OFFSET),
                    "CARGO_TARGET_DIR": str(BINARIES.parent), "PROFILE": BINARIES.name,
                    "REPLICAS": " ".join(f"{s}={n}" for s, n in REPLICAS.items())}
        self.platform = Platform(auth=ENTRY, product=ENTRY, cart=ENTRY, payment=ENTRY,
                                 auth_env=stores.env["auth-service"], binaries=BINARIES)

    def script(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SERVICES_SH), *args], env=self.env, capture_output=True, text=True,
                              timeout=300)

    def pid(self, name: str) -> int:
        return int((self.state / "run" / f"{name}.pid").read_text())

    def kill(self, name: str) -> None:
        """kill -9: no drain, whatever was in flight on it is cut off."""
        os.kill(self.pid(name), 9)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(") ", 1)[-1].split()[0] != "Z"


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    shop = Replicated(tmp_path_factory.mktemp("replicas"))
    started = shop.script("start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield shop
    finally:
        pids = [int(f.read_text()) for f in (shop.state / "run").glob("*.pid")]
        stopped = shop.script("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        left = [pid for pid in pids if alive(pid)]
        assert not left, f"make stop left processes behind: {left}"
        assert not list((shop.state / "run").glob("*.pid")), "pid files left"


def test_status_lists_every_replica_ready_and_up_in_the_proxy(replicated):
    out = replicated.script("status").stdout
    for service, count in REPLICAS.items():
        for i in range(1, count + 1):
            row = next((line for line in out.splitlines() if line.split()[:1] == [name_of(service, i)]), None)
            assert row, f"no row for {name_of(service, i)}:\n{out}"
            assert f"REST :{rest_port(service, i)}" in row and "), ready;" in row and "proxy: UP" in row, row


def cart_reads_served(port: int) -> int:
    text = call("GET", f"http://127.0.0.1:{port}/metrics").body
    pattern = r'^http_requests_total\{[^}]*route="/v1/cart"[^}]*\} (\d+)'
    return sum(int(n) for n in re.findall(pattern, str(text), re.M))


def routed_around(backend: str) -> int:
    """Requests the proxy had to send again (wretr) or to another replica (wredis) for a
    backend's servers, from its CSV statistics."""
    text = call("GET", f"http://127.0.0.1:{PROXY['stats']}/;csv").body
    rows = [line.split(",") for line in str(text).splitlines() if line.startswith(f"{backend},{backend}-")]
    return sum(int(row[15] or 0) + int(row[16] or 0) for row in rows)


def test_requests_through_the_entry_reach_several_cart_replicas(replicated):
    shopper = sign_up(replicated.platform)
    before = [cart_reads_served(rest_port("cart-service", i)) for i in range(1, 4)]
    for _ in range(30):
        expect(call("GET", f"{ENTRY}/v1/cart", token=shopper.token), 200, "read the cart")
    served = [cart_reads_served(rest_port("cart-service", i)) - b for i, b in zip(range(1, 4), before)]
    assert sum(1 for n in served if n > 0) >= 2, f"cart reads per replica: {served}"


def test_a_rolling_restart_of_cart_then_product_fails_no_request_at_all(replicated):
    """Drained at the proxy first, then SIGTERM: nothing is cut, so no request fails even once."""
    shop = replicated.platform
    stream = Stream(shop, create_product(shop, admin(shop).token, stock=100_000, price=300))
    try:
        stream.wait_for_journeys(4, "journeys under way")
        for service in ["cart-service", "product-service"]:
            restarted = replicated.script("restart", service)
            assert restarted.returncode == 0, restarted.stdout + restarted.stderr
            stream.wait_for_journeys(4, f"journeys after {service}'s rolling restart")
    finally:
        stream.stop()
    assert not stream.errors, stream.errors
    assert not [(r.status, r.body) for r in stream.reads if not 200 <= r.status < 300]
    failed_once = [(step, retried, getattr(response, "status", None)) for step, response, retried in stream.writes
                   if retried or response is None or response.status not in (200, 201, 202)]
    assert not failed_once, failed_once
    wait_until("a clean audit", lambda: audit(replicated) == [], timeout=60, interval=1)


def test_kill_9_of_a_cart_then_a_product_replica_mid_stream_fails_no_read_and_charges_once(replicated):
    shop = replicated.platform
    stream = Stream(shop, create_product(shop, admin(shop).token, stock=100_000, price=300))
    try:
        stream.wait_for_journeys(4, "journeys under way")
        cart_routed = routed_around("cart")
        replicated.kill("cart-service-2")
        stream.wait_for_journeys(8, "journeys after the cart replica's death")
        replicated.kill("product-service-2")
        stream.wait_for_journeys(8, "journeys after the product replica's death")
    finally:
        stream.stop()

    print(f"{len(stream.done)} journeys, {len(stream.reads)} reads, "
          f"{sum(1 for *_, r in stream.writes if r)} writes sent again")
    assert routed_around("cart") > cart_routed, "no request met the killed cart replica: the test did not test"
    assert not stream.errors, stream.errors
    bad_reads = [(r.status, r.body) for r in stream.reads if not 200 <= r.status < 300]
    assert not bad_reads, bad_reads
    for step, response, retried in stream.writes:
        wanted = {"add": {200}, "checkout": {201, 202}}[step]
        assert response.status in wanted, f"{step} (retried: {retried}): {response.status} {response.body}"
    assert set(stream.quantities) == {1}, f"a cart held the mug {sorted(set(stream.quantities))} times: an add ran twice"
    # No checkout charged twice, every sale matches its charge: the consistency auditor.
    wait_until("a clean audit", lambda: audit(replicated) == [], timeout=60, interval=1)
