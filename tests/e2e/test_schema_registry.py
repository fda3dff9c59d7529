"""The broker's schema registry (infra/local/registry.py, ADR 0022): the platform's broker
refuses a record whose value is not an Envelope, whoever produces it, and goes on serving;
an Envelope of a type no catalogue lists passes the broker and is dead-lettered by its consumers
(test_platform.py). Everything else in this suite is the valid traffic it lets through."""
import uuid

from confluent_kafka import KafkaError

import broker


def test_the_broker_refuses_a_record_that_is_not_an_envelope_and_keeps_serving(running):
    topic = running.topics["product"]
    junk = f'{{"product_id": "{uuid.uuid4()}", "stock": 3}}'.encode()  # JSON, as a stale producer might send
    refused = broker.produce(topic, b"product-1", junk, partition=0)
    assert refused is not None and refused.code() == KafkaError.INVALID_RECORD, refused
    assert junk not in [record.value() for record in broker.partition(topic, 0)]
    # The refusal ended that producer (gapless: a later record would leave a gap behind it), not
    # the broker: a fresh one is served, and the topic's consumers read on (test_platform.py).
    accepted = broker.produce(f"{running.topics['auth']}.dlq", b"k", junk)
    assert accepted is None, f"the dead-letter topic, which has no schema, refused a record: {accepted}"


def test_every_topic_of_the_catalogue_has_its_schema_and_no_dead_letter_topic_does(running):
    import registry
    folder = registry.running(broker.BROKER)
    for name in running.topics.values():
        assert (folder / f"{name}.proto").is_file(), f"no schema for {name} in {folder}"
        assert not (folder / f"{name}.dlq.proto").exists()
    assert "message Value {" in (folder / f"{running.topics['payment']}.proto").read_text()
