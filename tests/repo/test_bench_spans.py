"""tools/bench/spans.py, the profile of where a call's time goes: the receiver it shares with
the compose harness reads each span's duration from protobuf and JSON exports alike, and the
table gives each span's count and percentiles."""
import importlib.util
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def field(number, wire, payload):
    key = bytes([number << 3 | wire])
    if wire == 2:
        return key + bytes([len(payload)]) + payload
    return key + payload


def test_a_protobuf_spans_duration_comes_from_its_fixed64_start_and_end():
    receiver = load("otlp_receiver", "infra/compose/offline/otlp-receiver.py")
    start, end = 1_700_000_000_000_000_000, 1_700_000_000_002_500_000
    span = (field(1, 2, b"\x01" * 16) + field(2, 2, b"\x02" * 8) + field(5, 2, b"db.settle_charge")
            + field(7, 1, struct.pack("<Q", start)) + field(8, 1, struct.pack("<Q", end)))
    body = field(1, 2, field(2, 2, field(2, 2, span)))
    [parsed] = receiver.spans_of_protobuf(body)
    assert parsed["name"] == "db.settle_charge"
    assert parsed["duration_ms"] == 2.5


def test_the_table_gives_each_spans_count_and_percentiles():
    spans_tool = load("bench_spans", "tools/bench/spans.py")
    spans = [{"service": "payment-service", "name": "gateway.charge", "duration_ms": float(ms)} for ms in range(1, 101)]
    spans.append({"service": "payment-service", "name": "db.pool_wait", "duration_ms": 0.02})
    table = spans_tool.table(spans).splitlines()
    assert table[2] == "| payment-service | gateway.charge | 100 | 50.50 | 51.00 | 91.00 | 100.00 |"
    assert table[3].startswith("| payment-service | db.pool_wait | 1 | 0.02 |")
