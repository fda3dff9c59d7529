"""The platform's wiring (platform.yaml) for the local scripts, the e2e suite and `make chaos`.

  python3 wiring.py services [OFFSET]   one line a service: name http grpc|- PREFIX consumes|-
  python3 wiring.py proxy [OFFSET]      entry auth_internal stats admin auth_grpc
  python3 wiring.py step                the port step between replicas, and the most replicas
"""
import pathlib
import sys
from dataclasses import dataclass

import yaml

DESCRIPTION = pathlib.Path(__file__).with_name("platform.yaml")


@dataclass(frozen=True)
class Service:
    name: str
    prefix: str
    http: int
    grpc: int | None
    consumes: bool


def _load() -> dict:
    return yaml.safe_load(DESCRIPTION.read_text())


def services(offset: int = 0) -> dict[str, Service]:
    """Every service with its ports moved by `offset`, in the description's order."""
    return {
        name: Service(name, spec["prefix"], spec["http"] + offset,
                      spec["grpc"] + offset if "grpc" in spec else None, spec["consumes"])
        for name, spec in _load()["services"].items()
    }


def proxy(offset: int = 0) -> dict[str, int]:
    return {name: port + offset for name, port in _load()["proxy"].items()}


def replicas() -> tuple[int, int]:
    """The port step between a service's replicas, and how many replicas it may run."""
    description = _load()
    return description["replica_port_step"], description["max_replicas"]


def main(argv: list[str]) -> int:
    command, offset = argv[0], int(argv[1]) if len(argv) > 1 else 0
    if command == "services":
        for s in services(offset).values():
            print(s.name, s.http, s.grpc if s.grpc is not None else "-", s.prefix, "consumes" if s.consumes else "-")
    elif command == "proxy":
        ports = proxy(offset)
        print(ports["entry"], ports["auth_internal"], ports["stats"], ports["admin"], ports["auth_grpc"])
    elif command == "step":
        print(*replicas())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
