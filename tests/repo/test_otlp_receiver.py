"""The offline compose harness's trace receiver (infra/compose/offline/otlp-receiver.py) prints
one whole JSON line per span however many exporters post at once: the compose test reads its
log line by line. It once printed two spans on one line under concurrent requests."""
import concurrent.futures
import contextlib
import http.server
import importlib.util
import io
import json
import sys
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def receiver_module():
    spec = importlib.util.spec_from_file_location("otlp_receiver", ROOT / "infra/compose/offline/otlp-receiver.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export(port: int, n: int):
    spans = [{"traceId": f"{n:032x}", "spanId": f"{n * 10 + k:016x}", "name": "http_request"} for k in range(5)]
    body = json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart-service"}}]},
        "scopeSpans": [{"spans": spans}]}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def test_concurrent_exports_print_one_whole_json_line_per_span(tmp_path):
    module = receiver_module()

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 128  # sixteen clients connect at once

    server = Server(("127.0.0.1", 0), module.Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # A real file, unbuffered as a container's stdout pipe is: every write is a system call,
    # during which another thread may write.
    log = tmp_path / "spans.log"
    printed = io.TextIOWrapper(open(log, "wb", buffering=0), write_through=True)
    # Threads switched as often as the interpreter can: an interleaving that a busy machine
    # makes now and then happens here every run.
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with contextlib.redirect_stdout(printed):
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda n: export(server.server_address[1], n), range(200)))
    finally:
        sys.setswitchinterval(switching)
        server.shutdown()
    printed.close()
    spans = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(spans) == 1000
    assert {s["service"] for s in spans} == {"cart-service"}
    assert len({s["span_id"] for s in spans}) == 1000
