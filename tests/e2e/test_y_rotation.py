"""Rotating the platform's CA with everything running (README "Service identity"): every
service's folder gets a certificate of a new CA at once. The servers take theirs for new
connections, cart presents its new one on the connections it makes after; no service restarts
for it. Then product restarts (its connections from cart are cut), and a checkout still
succeeds: cart reached the restarted product with its new certificate. Runs late (y), since
every later call must use the new CA."""
import subprocess
import time
import uuid
from pathlib import Path

import grpc

from conftest import PORTS
from shop import admin, create_product, expect, sign_up, wait_until
from test_platform import add, assert_available, checkout
from test_service_identity import call, channel, field

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["auth-service", "product-service", "cart-service", "payment-service"]


def rotate(live: Path, new: Path):
    """What a rotation tool does: the CA, then the key, then the certificate, per service."""
    for service in SERVICES:
        for name in ["ca.crt", "tls.key", "tls.crt"]:
            staged = live / service / f".{name}.new"
            staged.write_bytes((new / service / name).read_bytes())
            staged.rename(live / service / name)
    (live / "ca.crt").write_bytes((new / "ca.crt").read_bytes())


def test_a_new_ca_is_taken_without_restarts_and_cart_reaches_a_restarted_product_with_it(platform, running,
                                                                                          tmp_path):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=5)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add")
    expect(checkout(platform, shopper, str(uuid.uuid4())), 201, "checkout before the rotation")

    new = tmp_path / "new-pki"
    subprocess.run(["bash", str(ROOT / "infra/local/pki.sh"), str(new)], check=True, capture_output=True)
    rotate(running.pki, new)

    # product serves its new certificate to new connections, and lets in only the new CA's.
    def product_on_new_ca() -> bool:
        with channel("product-service", new, new / "cart-service") as chan:
            return call(chan, "/shop.product.v1.ProductService/GetProduct", field(1, mug.encode())) \
                == grpc.StatusCode.OK
    wait_until("product serves the new CA's certificate", product_on_new_ca, timeout=10)

    # Cut cart's connections to product: the restarted product knows only the new CA.
    running.stop("product-service")
    running.start("product-service")
    running.wait_ready(f"http://127.0.0.1:{PORTS['product-service'][0]}")

    expect(add(platform, shopper, mug), 200, "add after the rotation")
    # One key: a retry resumes the same checkout while cart finds product again.
    key, deadline = str(uuid.uuid4()), time.monotonic() + 20
    while True:
        answer = checkout(platform, shopper, key)
        if answer.status == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(answer, 201, "checkout through the restarted product, with cart's new certificate")
    assert_available(platform, mug, 3)
