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
    # And it goes on serving: an Envelope right after is taken (the product topic's consumers
    # then park it: its type is in no catalogue).
    assert broker.produce(topic, b"product-1", broker.envelope("shop.events.v1.Unheard", "product-1")) is None


def test_every_topic_of_the_catalogue_refuses_what_is_not_an_envelope_and_no_dead_letter_topic_does(running):
    # The broker, not a file this suite wrote: each of the run's topics has its schema where the
    # running broker reads it (registry.running), and the dead-letter topics take anything.
    for name in running.topics.values():
        refused = broker.produce(name, b"k", b"\xff\xff not protobuf")
        assert refused is not None and refused.code() == KafkaError.INVALID_RECORD, (name, refused)
        parked = broker.produce(f"{name}.dlq", b"k", b"\xff\xff not protobuf")
        assert parked is None, f"{name}.dlq, which has no schema, refused a record: {parked}"
