"""An OTLP/HTTP trace receiver for the offline compose harness: POST /v1/traces with an
ExportTraceServiceRequest (protobuf) or its JSON form; prints one JSON line per span:
{"service", "trace_id", "span_id", "parent_span_id", "name", "duration_ms"}. Only the standard
library: the protobuf wire format is walked by field number (opentelemetry/proto/trace/v1/trace.proto)."""
import http.server
import json
import sys
import threading

# Requests are handled on threads of their own, and `print` writes a line's text and its newline
# separately: two requests' spans interleaved into one line ('{…}{…}'), which the compose test
# could not read (seen once in CI). Each request's lines go out in one write, one at a time.
PRINTING = threading.Lock()


def fields(buf):
    """Yields (field number, value) of one protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            size, i = varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, value


def varint(buf, i):
    shift = result = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def service_name(resource):
    for number, attribute in fields(resource):
        if number == 1:
            kv = dict(fields(attribute))
            if kv.get(1) == b"service.name":
                return dict(fields(kv.get(2, b""))).get(1, b"").decode()
    return ""


def spans_of_protobuf(body):
    for number, resource_spans in fields(body):
        if number != 1:
            continue
        parts = list(fields(resource_spans))
        service = next((service_name(v) for n, v in parts if n == 1), "")
        for scope_spans in (v for n, v in parts if n == 2):
            for span in (v for n, v in fields(scope_spans) if n == 2):
                s = dict(fields(span))
                # start_time_unix_nano (7) and end_time_unix_nano (8) are fixed64: little-endian.
                start, end = (int.from_bytes(s.get(n, bytes(8)), "little") for n in (7, 8))
                yield {"service": service, "trace_id": s.get(1, b"").hex(), "span_id": s.get(2, b"").hex(),
                       "parent_span_id": s.get(4, b"").hex(), "name": s.get(5, b"").decode(errors="replace"),
                       "duration_ms": (end - start) / 1e6}


def spans_of_json(body):
    for resource_spans in json.loads(body).get("resourceSpans", []):
        attributes = resource_spans.get("resource", {}).get("attributes", [])
        service = next((a["value"].get("stringValue", "") for a in attributes if a.get("key") == "service.name"), "")
        for scope_spans in resource_spans.get("scopeSpans", []):
            for s in scope_spans.get("spans", []):
                start, end = (int(s.get(key, 0)) for key in ("startTimeUnixNano", "endTimeUnixNano"))
                yield {"service": service, "trace_id": s.get("traceId", ""), "span_id": s.get("spanId", ""),
                       "parent_span_id": s.get("parentSpanId", ""), "name": s.get("name", ""),
                       "duration_ms": (end - start) / 1e6}


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        try:
            json_body = "json" in self.headers.get("Content-Type", "")
            spans = list(spans_of_json(body) if json_body else spans_of_protobuf(body))
        except (ValueError, IndexError, KeyError) as error:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(str(error).encode())
            return
        self.emit(spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if json_body else "application/x-protobuf")
        self.send_header("Content-Length", "2" if json_body else "0")
        self.end_headers()
        if json_body:
            self.wfile.write(b"{}")

    def emit(self, spans):
        """Prints the spans, a JSON line each (tools/bench/spans.py collects them instead)."""
        lines = "".join(json.dumps(span) + "\n" for span in spans)
        with PRINTING:
            sys.stdout.write(lines)
            sys.stdout.flush()

    def log_message(self, *args):  # spans only on stdout
        pass


if __name__ == "__main__":
    print("otlp-receiver listening on :4318", file=sys.stderr, flush=True)
    http.server.ThreadingHTTPServer(("0.0.0.0", 4318), Receiver).serve_forever()
