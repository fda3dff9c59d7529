"""The topic catalogue (contracts/events/topics.yaml) says who produces and who consumes each
topic; the services' settings say which topics each reads. They must agree: the catalogue
listed product-service as a consumer of payment.events.v1, which it never consumed, and the
e2e, chaos and local wiring read the catalogue (infra/local/topics.py)."""
import re
import sys

from conftest import ROOT, SERVICES, settings_read

sys.path.insert(0, str(ROOT / "infra" / "local"))
from topics import prefix, settings  # noqa: E402


def topic_settings_read(service: str) -> set[str]:
    return {key for key in settings_read(service) if re.fullmatch(r"[A-Z]+_KAFKA_(\w+_)?EVENTS_TOPIC", key)}


def test_every_service_reads_exactly_the_topic_settings_the_catalogue_gives_it():
    wiring = settings()
    for service in SERVICES:
        assert set(wiring.get(service, {})) == topic_settings_read(service), service


def test_the_wiring_names_each_producer_and_consumer_by_its_prefix():
    wiring = settings(lambda name: f"run.{name}")
    assert wiring["cart-service"]["CART_KAFKA_PAYMENT_EVENTS_TOPIC"] == "run.payment.events.v1"
    assert wiring["payment-service"]["PAYMENT_KAFKA_EVENTS_TOPIC"] == "run.payment.events.v1"
    assert prefix("product-service") == "PRODUCT"
