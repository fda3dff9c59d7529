"""The platform's wiring (infra/local/platform.yaml), which `make run`, the e2e suite and
`make chaos` read, agrees with the services themselves: each one's default ports and
environment prefix (its configuration.rs), and who consumes events (the topic catalogue). And
every second platform beside `make run` keeps its ports out of the kernel's ephemeral range,
where an outgoing connection could take one first and fail a start at random."""
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))
import wiring  # noqa: E402

EPHEMERAL = range(32768, 61000)  # Linux's default ip_local_port_range, 32768-60999


def defaults(service: str) -> dict:
    source = (ROOT / service / "src" / "configuration.rs").read_text()
    prefix = re.search(r'pub const ENV_PREFIX: &str = "([A-Z]+)_";', source).group(1)
    port = lambda key: int(m.group(1)) if (m := re.search(rf'env\.parse\("{key}", (\d+),', source)) else None  # noqa: E731
    return {"prefix": prefix, "http": port("HTTP_PORT"), "grpc": port("GRPC_PORT")}


@pytest.mark.parametrize("name", list(wiring.services()))
def test_each_service_is_described_as_its_configuration_defaults_it(name):
    service = wiring.services()[name]
    assert {"prefix": service.prefix, "http": service.http, "grpc": service.grpc} == defaults(name)


def test_the_consumers_are_the_topic_catalogues():
    catalogue = yaml.safe_load((ROOT / "contracts" / "events" / "topics.yaml").read_text())
    consumers = {consumer for topic in catalogue["topics"] for consumer in topic["consumers"]}
    assert {name for name, s in wiring.services().items() if s.consumes} == consumers


def offsets() -> dict[str, int]:
    """Every offset a second platform is started with, by where it is set."""
    makefile = (ROOT / "Makefile").read_text()
    found = {f"Makefile ({m.group(0)})": int(m.group(1)) for m in re.finditer(r"SHOP_PORT_OFFSET=(\d+)", makefile)}
    for test in ["tests/e2e/conftest.py", "tests/e2e/test_replicas.py"]:
        found[test] = int(re.search(r"^OFFSET = (\d+)", (ROOT / test).read_text(), re.M).group(1))
    return found


def ports(offset: int) -> list[int]:
    step, most = wiring.replicas()
    bases = [p for s in wiring.services(offset).values() for p in (s.http, s.grpc) if p is not None]
    return [base + step * i for base in bases for i in range(most)] + list(wiring.proxy(offset).values())


def test_every_second_platform_keeps_out_of_the_ephemeral_range_and_of_the_others():
    found = offsets()
    assert len(found) >= 3, found
    taken: dict[int, str] = {port: "make run" for port in ports(0)}
    for where, offset in found.items():
        for port in ports(offset):
            assert port not in EPHEMERAL and port < 65536, f"{where}: port {port}"
            assert port not in taken, f"{where}: port {port} is {taken.get(port)}'s too"
            taken[port] = where


def test_the_range_check_catches_an_offset_in_the_ephemeral_range():
    assert any(port in EPHEMERAL for port in ports(5000))
