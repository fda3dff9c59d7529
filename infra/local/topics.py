"""The topic catalogue, contracts/events/topics.yaml, as the scripts and tests use it.

  python3 infra/local/topics.py   prints `<topic> <partitions>` for every topic, each consumed
                                  topic followed by its dead-letter topic `<topic>.dlq` (1 partition)

`settings(rename)` gives each service its topic settings from the same file, so a test run or a
chaos run on topics of its own (`rename`) wires exactly what the catalogue says."""
import pathlib
from collections import defaultdict

import yaml

CATALOGUE = pathlib.Path(__file__).resolve().parents[2] / "contracts" / "events" / "topics.yaml"


def catalogue(path=CATALOGUE) -> list[dict]:
    return yaml.safe_load(path.read_text())["topics"]


def topics(path=CATALOGUE, rename=lambda name: name):
    for topic in catalogue(path):
        yield rename(topic["name"]), topic["partitions"]
        if topic["consumers"]:
            yield rename(topic["name"]) + ".dlq", 1


def prefix(service: str) -> str:
    """A service's environment prefix: `cart-service` reads `CART_*`."""
    return service.removesuffix("-service").upper()


def settings(rename=lambda name: name, path=CATALOGUE) -> dict[str, dict[str, str]]:
    """Each service's topic settings: `<SERVICE>_KAFKA_EVENTS_TOPIC`, the topic it produces, and
    `<SERVICE>_KAFKA_<PRODUCER>_EVENTS_TOPIC` for each topic it consumes; `rename` turns each
    catalogue name into the one to use."""
    wiring: dict[str, dict[str, str]] = defaultdict(dict)
    for topic in catalogue(path):
        name, producer = rename(topic["name"]), topic["producer"]
        wiring[producer][f"{prefix(producer)}_KAFKA_EVENTS_TOPIC"] = name
        for consumer in topic["consumers"]:
            wiring[consumer][f"{prefix(consumer)}_KAFKA_{prefix(producer)}_EVENTS_TOPIC"] = name
    return dict(wiring)


if __name__ == "__main__":
    for name, partitions in topics():
        print(name, partitions)
