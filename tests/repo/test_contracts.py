"""The topic catalogue and the protos agree: every event type a topic lists is a message of
contracts/proto/shop/events/v1, read from buf's compiled image (not by parsing text). And the
gRPC error reasons (each service's `ErrorReason` enum, sent as google.rpc.ErrorInfo) are the
ones listed here: a reason added, renamed or dropped changes what clients match on, so it must
change this list too."""
import json
import pathlib
import re
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
BUF = CONTRACTS / "node_modules" / ".bin" / "buf"


@pytest.fixture(scope="module")
def image():
    return json.loads(subprocess.run(
        [str(BUF), "build", "-o", "-#format=json"], cwd=CONTRACTS, check=True, capture_output=True, text=True
    ).stdout)


@pytest.fixture(scope="module")
def messages(image):
    names = set()
    for file in image["file"]:
        for message in file.get("messageType", []):
            names.add(f"{file['package']}.{message['name']}")
    return names


# Every reason each service's gRPC errors can carry (ErrorInfo.reason, with the domain named
# by the service). The REST API's error codes are the same names in lower case.
REASONS = {
    "shop.auth.v1": [
        "INVALID_REQUEST", "EMAIL_TAKEN", "PAYLOAD_TOO_LARGE", "INVALID_CREDENTIALS", "TOO_MANY_ATTEMPTS",
        "MISSING_TOKEN", "INVALID_TOKEN", "INVALID_REFRESH_TOKEN", "REFRESH_TOKEN_REUSED", "FORBIDDEN",
        "USER_NOT_FOUND", "UNAVAILABLE", "INTERNAL", "UNAUTHENTICATED",
    ],
    "shop.product.v1": [
        "INVALID_REQUEST", "PRODUCT_NOT_FOUND", "OUT_OF_STOCK", "RESERVATION_NOT_FOUND", "RESERVATION_CLOSED",
        "PAYMENT_MISMATCH", "UNAUTHENTICATED", "FORBIDDEN", "PRECONDITION_REQUIRED", "VERSION_MISMATCH",
        "SKU_TAKEN", "STOCK_BELOW_RESERVED", "UNAVAILABLE", "INTERNAL",
    ],
    "shop.payment.v1": [
        "INVALID_REQUEST", "UNAUTHENTICATED", "PERMISSION_DENIED", "PAYMENT_NOT_FOUND", "IDEMPOTENCY_KEY_REUSED",
        "REQUEST_IN_PROGRESS", "ORDER_ALREADY_CHARGED", "REFUND_EXCEEDS_CHARGE", "PAYMENT_NOT_REFUNDABLE",
        "INVALID_WEBHOOK", "UNAVAILABLE", "INTERNAL", "PAYMENT_METHOD_UNAVAILABLE",
    ],
}
PREFIX = "ERROR_REASON_"


def error_reasons(image) -> dict[str, list[str]]:
    """Each package's ErrorReason values as they travel: the names without the prefix, in order."""
    found = {}
    for file in image["file"]:
        for enum in file.get("enumType", []):
            if enum["name"] == "ErrorReason":
                found[file["package"]] = [v["name"].removeprefix(PREFIX) for v in enum["value"] if v["number"] != 0]
    return found


def test_every_service_with_a_grpc_api_lists_its_error_reasons(image):
    services = {file["package"] for file in image["file"] if file.get("service")}
    assert services == set(REASONS)
    assert error_reasons(image) == REASONS


def test_every_reason_is_a_valid_error_info_reason(image):
    for package, reasons in error_reasons(image).items():
        for reason in reasons:
            # google.rpc.ErrorInfo: at most 63 characters of [A-Z0-9_], unique in its domain.
            assert re.fullmatch(r"[A-Z][A-Z0-9_]{0,62}", reason), (package, reason)
        assert len(set(reasons)) == len(reasons), package
    for file in image["file"]:
        for enum in file.get("enumType", []):
            if enum["name"] == "ErrorReason":
                assert all(v["name"].startswith(PREFIX) for v in enum["value"]), file["package"]
                assert enum["value"][0] == {"name": PREFIX + "UNSPECIFIED", "number": 0}, file["package"]


def test_the_reason_check_catches_a_reason_missing_from_the_list(image):
    changed = json.loads(json.dumps(image))
    for file in changed["file"]:
        for enum in file.get("enumType", []):
            if enum["name"] == "ErrorReason" and file["package"] == "shop.product.v1":
                enum["value"].append({"name": PREFIX + "ADDED_LATER", "number": 99})
    assert error_reasons(changed) != REASONS


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


# The consumers' own copy of the catalogue (src/events/catalogue.rs, identical in each service
# that consumes): a record whose type its topic does not list goes to the dead-letter topic.
CATALOGUE_COPIES = ["auth-service", "cart-service", "payment-service"]


@pytest.mark.parametrize("service", CATALOGUE_COPIES)
def test_each_consumers_catalogue_lists_exactly_the_topics_event_types(service):
    catalogue = yaml.safe_load((CONTRACTS / "events" / "topics.yaml").read_text())
    source = (ROOT / service / "src" / "events" / "catalogue.rs").read_text()
    copies = {
        f"{name.lower()}.events.v1": re.findall(r'"([\w.]+)"', body)
        for name, body in re.findall(r"pub const (\w+)_EVENTS: &\[&str\] =\s*&\[(.*?)\];", source, re.S)
    }
    assert copies == {topic["name"]: topic["event_types"] for topic in catalogue["topics"]}
