"""Where a call's time goes, from its traces: receives the platform's OTLP spans while a load
runs and prints, per service and span name, how many there were and their durations.

    tools/bench/spans.py [--port 4318] [--settle S] -- COMMAND...

Start the platform with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 (and, so that the
exporters keep up, OTEL_BSP_MAX_QUEUE_SIZE=65536 OTEL_BSP_SCHEDULE_DELAY=200), then run e.g.

    tools/bench/spans.py -- $CARGO_TARGET_DIR/release/loadgen run charge --concurrency 32

COMMAND runs with the receiver listening; after it ends, the receiver waits --settle seconds for
the last exports and prints a markdown table. An exporter's full queue drops spans, so counts are
a sample; the durations of what arrived are exact. loadgen/README.md says what it showed.
"""
import argparse
import http.server
import importlib.util
import pathlib
import statistics
import subprocess
import sys
import threading
import time

RECEIVER = pathlib.Path(__file__).resolve().parents[2] / "infra/compose/offline/otlp-receiver.py"


def load_receiver():
    spec = importlib.util.spec_from_file_location("otlp_receiver", RECEIVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def table(spans):
    """Rows per (service, name), slowest mean first: count, mean, p50, p90, p99 in ms."""
    durations = {}
    for span in spans:
        durations.setdefault((span["service"], span["name"]), []).append(span["duration_ms"])
    rows = []
    for (service, name), values in durations.items():
        values.sort()
        rows.append((service, name, len(values), statistics.fmean(values), percentile(values, 0.5),
                     percentile(values, 0.9), percentile(values, 0.99)))
    rows.sort(key=lambda row: (row[0], -row[3]))
    lines = ["| service | span | count | mean ms | p50 ms | p90 ms | p99 ms |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {s} | {n} | {c} | {m:.2f} | {p50:.2f} | {p90:.2f} | {p99:.2f} |" for s, n, c, m, p50, p90, p99 in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a COMMAND to run under the receiver")
    receiver = load_receiver()
    received, lock = [], threading.Lock()

    class Collector(receiver.Receiver):
        def emit(self, spans):
            with lock:
                received.extend(spans)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    status = subprocess.call(command)
    time.sleep(args.settle)
    server.shutdown()
    with lock:
        spans = list(received)
    print(f"\n{len(spans)} spans received\n")
    print(table(spans))
    return status


if __name__ == "__main__":
    sys.exit(main())
