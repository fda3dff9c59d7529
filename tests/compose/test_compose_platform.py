"""The platform as users run it: the four images in compose (`make up`), driven through its
single entry: the images' promises, the demo catalogue, the demo journey, one trace per checkout
in the collector, and a killed container that comes back while the others keep serving."""
import json
import os
import signal
import subprocess
import uuid

import pytest

from conftest import ROOT, SERVICES
from demo import journey
from shop import admin, call, create_product, expect, log_in, sign_up, traced_checkout, wait_until

MAX_IMAGE_BYTES = 40 * 1024 * 1024


def health(compose, service: str) -> str:
    """The service's container's health, as its image's HEALTHCHECK (its /readyz) reports it."""
    return inspect(compose.container(service))["State"].get("Health", {}).get("Status", "")


def inspect(ref: str) -> dict:
    return json.loads(subprocess.run(["docker", "inspect", ref], check=True, capture_output=True, text=True).stdout)[0]


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_is_small_non_root_and_runs_read_only_without_a_shell(compose, service):
    image = inspect(f"shop/{service}:local")
    assert image["Size"] < MAX_IMAGE_BYTES, f"{service}: {image['Size'] / 1048576:.1f} MiB"
    assert image["Config"]["User"] == "10001:10001"
    container = inspect(compose.container(service))
    assert container["HostConfig"]["ReadonlyRootfs"] is True
    assert container["HostConfig"]["CapDrop"] == ["ALL"]
    assert container["State"]["Health"]["Status"] == "healthy"
    for tool in ["/bin/sh", "/usr/bin/apt-get", "/usr/bin/dpkg"]:
        tried = subprocess.run(["docker", "run", "--rm", "--entrypoint", tool, f"shop/{service}:local"],
                               capture_output=True, text=True)
        assert tried.returncode != 0 and "no such file" in (tried.stderr + tried.stdout).lower(), (tool, tried.stderr)
    # What the chart's preStop hook runs in this image, which has no `sleep` program.
    paused = subprocess.run(["docker", "exec", compose.container(service), f"/usr/local/bin/{service}", "sleep", "1"],
                            capture_output=True, text=True)
    assert paused.returncode == 0, paused.stderr


def test_the_demo_journey_through_the_entry(platform):
    outcome = journey(platform, say=lambda _: None)
    assert outcome["paid"]["status"] == "paid"
    assert outcome["unavailable_after"] < 5, "the admin's stock change reached Bob's cart through the broker"


def test_make_up_lists_the_demo_catalogue_as_make_run_does(platform):
    """The product image's own `seed` job loaded the same catalogue `make run` seeds: a new
    user's first `GET /v1/products` has something to put in a cart."""
    seeded = json.loads((ROOT / "product-service/seed/demo-catalogue.json").read_text())["products"]
    skus, token = set(), ""
    while True:  # every page: other tests add products of their own
        after = f"&page_token={token}" if token else ""
        page = expect(call("GET", f"{platform.product}/v1/products?page_size=100{after}"), 200, "browse").body
        skus |= {product["sku"] for product in page["products"]}
        if not (token := page.get("next_page_token") or ""):
            break
    assert {product["sku"] for product in seeded} <= skus, f"listed: {sorted(skus)}"


def test_one_checkout_is_one_trace_across_cart_product_and_payment_in_the_collector(compose, platform):
    trace_id = traced_checkout(platform)

    def services_in_trace():
        logs = compose.logs("otel-collector")
        if compose.env["SHOP_COMPOSE_OFFLINE"] == "1":
            spans = [json.loads(line.split("|", 1)[1]) for line in logs.splitlines() if "|" in line and "{" in line]
            seen = {span["service"] for span in spans if span["trace_id"] == trace_id}
        else:  # the real collector's debug exporter names the trace id and the resource
            seen = {s for s in ["cart-service", "product-service", "payment-service"] if trace_id in logs and s in logs}
        return seen if {"cart-service", "product-service", "payment-service"} <= seen else None

    wait_until("the checkout's spans from cart, product and payment under one trace id", services_in_trace,
               timeout=30, interval=1)


def test_a_killed_service_container_comes_back_and_the_others_keep_serving(compose, platform):
    shopper = sign_up(platform)
    before = inspect(compose.container("product-service"))
    os.kill(before["State"]["Pid"], signal.SIGKILL)  # a crash, not a `docker stop`: the restart policy applies
    wait_until("product-service seen down", lambda: inspect(compose.container("product-service"))["State"]["Pid"]
               != before["State"]["Pid"] or health(compose, "product-service") != "healthy", timeout=10)
    # Meanwhile: logins and carts answer through the entry, payment stays healthy.
    expect(call("GET", f"{platform.cart}/v1/cart", token=shopper.token), 200, "cart while product is down")
    log_in(platform, shopper.email, "correct horse battery staple")
    assert health(compose, "payment-service") == "healthy", "payment while product is down"
    wait_until("product-service healthy again", lambda: health(compose, "product-service") == "healthy",
               timeout=90, interval=1)
    after = inspect(compose.container("product-service"))
    assert after["RestartCount"] > before["RestartCount"], "docker restarted the same container"
    expect(call("GET", f"{platform.product}/v1/products?page_size=1"), 200, "browse after the restart")
    # The restarted product still takes part in a checkout.
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=1)
    expect(call("POST", f"{platform.cart}/v1/cart/items", {"product_id": mug, "quantity": 1}, shopper.token), 200, "add")
    paid = expect(call("POST", f"{platform.cart}/v1/cart/checkout", {"payment_token": "tok_visa"}, shopper.token,
                       {"Idempotency-Key": str(uuid.uuid4())}), 201, "checkout after the restart")
    assert paid.body["status"] == "paid"


def test_the_broker_refuses_a_record_that_is_not_an_envelope_and_the_journey_goes_on(compose, platform):
    # Straight into the broker's container, past every service, as a producer with a wrong build
    # would: the registry (infra/local/registry.py, mounted by compose.sh) refuses the record.
    record = json.dumps({"key": "product-1", "value": '{"product_id": "product-1", "stock": 3}'})
    produced = subprocess.run(["docker", "exec", "-i", compose.container("kafka"), "tansu", "cat", "produce",
                               "product.events.v1", "--broker", "tcp://localhost:9092"],
                              input=record, capture_output=True, text=True, timeout=60)
    said = produced.stdout + produced.stderr  # tansu logs to stdout when it has no terminal
    assert produced.returncode != 0, f"the broker took a record that is not an Envelope: {said}"
    assert "failed the validation on broker" in said, said
    # The services' own records still pass: a whole checkout, its stock event applied in the cart.
    outcome = journey(platform, say=lambda _: None)
    assert outcome["paid"]["status"] == "paid"
    assert outcome["unavailable_after"] < 5, "the admin's stock change reached Bob's cart through the broker"
