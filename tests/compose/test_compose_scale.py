"""`make up SCALE=...` on the project the single-container tests ran on (they come first): two
cart and two payment containers behind the entry. The journey passes through the entry,
requests reach both cart containers, and `docker kill` of one cart container in the middle of a
stream of shoppers fails no request: the proxy sends a cut read, keyed add or checkout to the
other container (a cut checkout is told "in progress" until the dead container's heartbeat
lapses, then resumed). `make down`, the session's teardown, removes every container."""
import subprocess

import pytest

from conftest import ROOT, STATS
from demo import journey
from shop import admin, call, create_product, wait_until
from shoppers import IN_PROGRESS_ANSWERS, Stream

SCALE = {"cart-service": 2, "payment-service": 2}


def proxy_servers(backend: str) -> dict[str, dict[str, str]]:
    """The entry's statistics for each server of a backend, by column name."""
    lines = str(call("GET", f"{STATS}/;csv").body).splitlines()
    columns = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(columns, line.split(","))) for line in lines[1:] if line]
    return {row["svname"]: row for row in rows
            if row.get("pxname") == backend and row["svname"] not in ("FRONTEND", "BACKEND")}


def answered(backend: str) -> dict[str, int]:
    """2xx answers each server in the backend's rotation has given."""
    return {name: int(row["hrsp_2xx"] or 0) for name, row in proxy_servers(backend).items() if row["status"] == "UP"}


@pytest.fixture(scope="module")
def scaled(compose):
    setting = " ".join(f"{service}={n}" for service, n in SCALE.items())
    up = subprocess.run(["bash", str(ROOT / "infra/compose/up.sh")], env={**compose.env, "SCALE": setting},
                        capture_output=True, text=True, timeout=900)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "cart-service 2, payment-service 2" in up.stdout, up.stdout
    return compose


def test_scaled_services_run_one_container_each_replica_all_in_the_entry(scaled):
    for service, n in {"auth-service": 1, "product-service": 1, **SCALE}.items():
        containers = scaled.run("ps", "-q", service).stdout.split()
        assert len(containers) == n, f"{service}: {containers}"
        up = [name for name, row in proxy_servers(service.split("-")[0]).items() if row["status"] == "UP"]
        assert len(up) == n, f"{service} in the entry: {up}"


def test_the_journey_passes_through_the_entry_and_reaches_both_cart_containers(scaled, platform):
    before = answered("cart")
    for _ in range(3):
        assert journey(platform, say=lambda _: None)["paid"]["status"] == "paid"
    after = answered("cart")
    grew = [name for name, n in after.items() if n > before.get(name, 0)]
    assert len(grew) == 2, f"cart answers per container before {before}, after {after}"


def routed_around(backend: str) -> int:
    """Requests the entry sent again (wretr) or to another server (wredis) for a backend."""
    return sum(int(row["wretr"] or 0) + int(row["wredis"] or 0) for row in proxy_servers(backend).values())


def test_docker_kill_of_a_cart_container_mid_stream_fails_no_shopper_request(scaled, platform):
    stream = Stream(platform, create_product(platform, admin(platform).token, stock=100_000, price=300))
    waits = IN_PROGRESS_ANSWERS[0]
    try:
        stream.wait_for_journeys(4, "journeys under way")
        routed = routed_around("cart")
        victim = scaled.run("ps", "-q", "cart-service").stdout.split()[0]
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
        # Shoppers go on while the entry finds the container gone, and after.
        wait_until("the entry takes the dead container out", lambda: len(answered("cart")) < 2, timeout=30)
        stream.wait_for_journeys(8, "journeys after the cart container's death")
    finally:
        stream.stop()
    around = routed_around("cart") - routed
    print(f"{len(stream.done)} journeys; the entry routed {around} requests around the dead container; "
          f"{IN_PROGRESS_ANSWERS[0] - waits} 'checkout in progress' answers waited out")
    assert around > 0, "no request met the killed container: the test did not test"
    assert not stream.errors, stream.errors
    assert not [(r.status, r.body) for r in stream.reads if not 200 <= r.status < 300]
    failed = [(step, retried, getattr(response, "status", None), getattr(response, "body", None))
              for step, response, retried in stream.writes
              if retried or response is None or response.status not in (200, 201, 202)]
    assert not failed, failed
    assert set(stream.quantities) == {1}, f"a cart held the mug {sorted(set(stream.quantities))} times"
