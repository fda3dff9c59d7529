"""The compose platform for real: `infra/compose/up.sh` builds the four images from their
Dockerfiles and starts them with the stores, the broker (offline stand-ins where Docker Hub
cannot be reached) and the trace collector, in a compose project of its own with the services
published on 2808x / 2805x of loopback; `down.sh` removes it all afterwards. A failed image build
or a container that never becomes healthy fails the first test that needs the platform."""
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from shop import Platform  # noqa: E402

SERVICES = ["auth-service", "product-service", "cart-service", "payment-service"]
PORTS = {"AUTH_HTTP": 28081, "AUTH_GRPC": 28051, "PRODUCT_HTTP": 28082, "PRODUCT_GRPC": 28052,
         "CART_HTTP": 28083, "PAYMENT_HTTP": 28084, "PAYMENT_GRPC": 28054}
PROJECT = "shop-e2e"


@dataclass
class Compose:
    env: dict

    def run(self, *args: str, check=True) -> subprocess.CompletedProcess:
        script = f'source "{ROOT}/infra/compose/compose.sh"; compose "$@"'
        return subprocess.run(["bash", "-c", script, "compose", *args], env=self.env, check=check,
                              capture_output=True, text=True)

    def container(self, service: str) -> str:
        return self.run("ps", "-q", service).stdout.strip()

    def logs(self, service: str) -> str:
        return self.run("logs", "--no-color", service).stdout


@pytest.fixture(scope="session")
def compose():
    env = {**os.environ, "COMPOSE_PROJECT": PROJECT, "PROFILES": "observability",
           **{f"SHOP_{name}_PORT": str(port) for name, port in PORTS.items()}}
    up = subprocess.run(["bash", str(ROOT / "infra" / "compose" / "up.sh")], env=env)
    try:
        assert up.returncode == 0, "make up failed: its output is above"
        # up.sh exported this for itself; the helpers here need to name the same files.
        offline = subprocess.run(["bash", "-c", f'source "{ROOT}/infra/compose/compose.sh"; offline'], env=env)
        yield Compose({**env, "SHOP_COMPOSE_OFFLINE": "1" if offline.returncode == 0 else "0"})
    finally:
        subprocess.run(["bash", str(ROOT / "infra" / "compose" / "down.sh")], env=env, capture_output=True)


@pytest.fixture(scope="session")
def platform(compose) -> Platform:
    return Platform(auth=f"http://127.0.0.1:{PORTS['AUTH_HTTP']}", product=f"http://127.0.0.1:{PORTS['PRODUCT_HTTP']}",
                    cart=f"http://127.0.0.1:{PORTS['CART_HTTP']}", payment=f"http://127.0.0.1:{PORTS['PAYMENT_HTTP']}",
                    auth_command=["docker", "exec", "-i", compose.container("auth-service"),
                                  "/usr/local/bin/auth-service"])
