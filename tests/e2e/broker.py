"""Straight to the platform's broker, past every service: a record produced, a topic or a
partition read from the start with its headers, and Envelopes encoded by hand
(contracts/proto/shop/events/v1/envelope.proto)."""
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

BROKER = "127.0.0.1:9092"


def produce(topic: str, key: bytes, value: bytes, partition: int = -1) -> KafkaError | None:
    """Produces one record and returns the broker's error for it (None: accepted)."""
    # Not idempotent: after a refused record an idempotent producer bumps its epoch, and tansu
    # 0.6 panics on that (the services' relays are gapless instead: events/producer.rs).
    producer = Producer({"bootstrap.servers": BROKER, "enable.idempotence": False,
                         "message.timeout.ms": 20000})
    outcome: list[KafkaError | None] = []
    producer.produce(topic, key=key, value=value, partition=partition,
                     on_delivery=lambda error, _message: outcome.append(error))
    producer.flush(30)
    assert outcome, f"no delivery report for the record to {topic} within 30 s"
    return outcome[0]


def read(topic: str, wanted, timeout: float = 20) -> list:
    """Reads `topic` from the start until `wanted(records)` holds or `timeout`; the records."""
    consumer = Consumer({"bootstrap.servers": BROKER, "group.id": f"e2e-reader-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    records = []
    deadline = time.monotonic() + timeout
    try:
        while not wanted(records) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                records.append(message)
    finally:
        consumer.close()
    return records


def partition(topic: str, number: int) -> list:
    """Every record of one partition, up to its high watermark when asked."""
    consumer = Consumer({"bootstrap.servers": BROKER, "group.id": f"e2e-reader-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, number), timeout=10)
        consumer.assign([TopicPartition(topic, number, 0)])
        records = []
        deadline = time.monotonic() + 20
        while (not records or records[-1].offset() < high - 1) and high > 0 and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                records.append(message)
        assert high == 0 or records[-1].offset() >= high - 1, f"{topic}/{number} not read to offset {high} in 20 s"
        return records
    finally:
        consumer.close()


def envelope(event_type: str, aggregate_id: str, producer: str = "e2e") -> bytes:
    """A shop.events.v1.Envelope (fields 1, 2, 4, 5, 6; no occurred_at) with an empty payload."""
    def field(number: int, value: bytes) -> bytes:
        return bytes([number << 3 | 2]) + _varint(len(value)) + value
    return (field(1, str(uuid.uuid4()).encode()) + field(2, event_type.encode()) + field(4, producer.encode())
            + field(5, aggregate_id.encode()) + field(6, b""))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def header(message, name: str) -> str | None:
    for key, value in message.headers() or []:
        if key == name:
            return value.decode(errors="replace") if value is not None else None
    return None
