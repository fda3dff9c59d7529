"""The topic catalogue and the protos agree: every event type a topic lists is a message of
contracts/proto/shop/events/v1, read from buf's compiled image (not by parsing text)."""
import json
import pathlib
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
BUF = CONTRACTS / "node_modules" / ".bin" / "buf"


@pytest.fixture(scope="module")
def messages():
    image = subprocess.run(
        [str(BUF), "build", "-o", "-#format=json"], cwd=CONTRACTS, check=True, capture_output=True, text=True
    ).stdout
    names = set()
    for file in json.loads(image)["file"]:
        for message in file.get("messageType", []):
            names.add(f"{file['package']}.{message['name']}")
    return names


@pytest.fixture(scope="module")
def catalogue():
    return yaml.safe_load((CONTRACTS / "events" / "topics.yaml").read_text())


def unknown_event_types(catalogue, messages):
    """Every (topic, event type) whose type is not an event message of the protos."""
    return [
        (topic["name"], event_type)
        for topic in catalogue["topics"]
        for event_type in topic["event_types"]
        if not event_type.startswith("shop.events.v1.") or event_type not in messages
    ]


def test_every_event_type_in_the_catalogue_is_a_proto_message(catalogue, messages):
    assert unknown_event_types(catalogue, messages) == []


def test_the_check_catches_a_type_missing_from_the_protos(catalogue, messages):
    broken = {"topics": [dict(catalogue["topics"][0], event_types=["shop.events.v1.NoSuchEvent"])]}
    assert unknown_event_types(broken, messages) == [(catalogue["topics"][0]["name"], "shop.events.v1.NoSuchEvent")]


def test_the_envelope_exists(messages):
    assert "shop.events.v1.Envelope" in messages


def test_every_topic_is_complete(catalogue):
    required = {"name", "partitions", "key", "producer", "consumers", "event_types"}
    for topic in catalogue["topics"]:
        assert required <= topic.keys(), topic["name"]
        assert topic["name"].endswith(".v1")
        assert topic["partitions"] >= 1
        assert topic["event_types"], topic["name"]


def test_topic_names_are_unique(catalogue):
    names = [t["name"] for t in catalogue["topics"]]
    assert len(names) == len(set(names))
