"""Prints `<topic> <partitions>` for every topic of contracts/events/topics.yaml, each
consumed topic followed by its dead-letter topic `<topic>.dlq` (1 partition)."""
import pathlib

import yaml

CATALOGUE = pathlib.Path(__file__).resolve().parents[2] / "contracts" / "events" / "topics.yaml"


def topics(catalogue=CATALOGUE):
    for topic in yaml.safe_load(catalogue.read_text())["topics"]:
        yield topic["name"], topic["partitions"]
        if topic["consumers"]:
            yield topic["name"] + ".dlq", 1


if __name__ == "__main__":
    for name, partitions in topics():
        print(name, partitions)
