"""The compose platform for real: `infra/compose/up.sh` builds the four images from their
Dockerfiles and starts them with the stores, the broker (offline stand-ins where Docker Hub
cannot be reached), the trace collector and the entry proxy, in a compose project of its own
(its own subnet) with the entry published on 28080 of loopback and its statistics on 28404;
`down.sh` removes it all afterwards. A failed image build or a container that never becomes
healthy fails the first test that needs the platform."""
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
PORTS = {"ENTRY": 28080, "PROXY_STATS": 28404}
ENTRY = f"http://127.0.0.1:{PORTS['ENTRY']}"
STATS = f"http://127.0.0.1:{PORTS['PROXY_STATS']}"
PROJECT = "shop-e2e"
NET = "10.89.1"  # the project's subnet: another than `make up`'s, which may run beside it


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
           "SHOP_COMPOSE_NET": NET, **{f"SHOP_{name}_PORT": str(port) for name, port in PORTS.items()}}
    up = subprocess.run(["bash", str(ROOT / "infra" / "compose" / "up.sh")], env=env)
    try:
        assert up.returncode == 0, "make up failed: its output is above"
        # up.sh exported this for itself; the helpers here need to name the same files.
        offline = subprocess.run(["bash", "-c", f'source "{ROOT}/infra/compose/compose.sh"; offline'], env=env)
        yield Compose({**env, "SHOP_COMPOSE_OFFLINE": "1" if offline.returncode == 0 else "0"})
    finally:
        subprocess.run(["bash", str(ROOT / "infra" / "compose" / "down.sh")], env=env, capture_output=True)
        # `make down` leaves nothing of the project: no container (scaled ones included), no
        # network, no volume.
        label = f"label=com.docker.compose.project={PROJECT}"
        left = {kind: subprocess.run(["docker", kind, "ls", "-q", "--filter", label] + (["-a"] if kind == "container" else []),
                                     capture_output=True, text=True).stdout.split()
                for kind in ["container", "network", "volume"]}
        assert not any(left.values()), f"make down left: {left}"


@pytest.fixture(scope="session")
def platform(compose) -> Platform:
    return Platform(auth=ENTRY, product=ENTRY, cart=ENTRY, payment=ENTRY,
                    auth_command=["docker", "exec", "-i", compose.container("auth-service"),
                                  "/usr/local/bin/auth-service"])
