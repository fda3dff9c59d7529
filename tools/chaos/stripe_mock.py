"""A stand-in for Stripe's PaymentIntents and Refunds API on loopback, for `make chaos`: the only
fake of the outside world the platform runs against (payment-service's `stripe` adapter points
its base URL here). Like Stripe it honours `Idempotency-Key` — a repeated key gets the first
answer — and it counts what it charged, so a run can prove no payment was taken twice and every
payment taken was recorded. Its mode is the fault: `ok`, `slow` (answers after `delay` seconds,
having charged — the dangerous case), `error` (500 without charging)."""
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a caller that timed out on a slow answer closed its end: expected here


class StripeMock:
    def __init__(self):
        self.mode, self.delay = "ok", 0.0
        self.lock = threading.Lock()
        self.answers: dict[str, tuple[int, dict]] = {}  # Idempotency-Key -> first answer
        self.charges: dict[str, str] = {}  # PaymentIntent id -> metadata[payment_id]
        self.requests = 0
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                status, body = mock.answer(self.path, self.headers.get("Idempotency-Key", ""), form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, mode: str, delay: float = 0.0) -> None:
        with self.lock:
            self.mode, self.delay = mode, delay

    def answer(self, path: str, key: str, form: dict) -> tuple[int, dict]:
        with self.lock:
            self.requests += 1
            mode, delay = self.mode, self.delay
            if key and key in self.answers:
                return self.answers[key]
        if mode == "error":
            return 500, {"error": {"type": "api_error", "message": "An unknown error occurred"}}
        if path == "/v1/payment_intents":
            intent = f"pi_{uuid.uuid4().hex[:24]}"
            answer = (200, {"id": intent, "object": "payment_intent", "status": "succeeded",
                            "amount": int(form.get("amount", 0)), "currency": form.get("currency", "")})
            with self.lock:
                if key in self.answers:  # a concurrent repeat won: Stripe would answer it
                    return self.answers[key]
                self.answers[key] = answer
                self.charges[intent] = form.get("metadata[payment_id]", "")
        elif path == "/v1/refunds":
            answer = (200, {"id": f"re_{uuid.uuid4().hex[:24]}", "object": "refund", "status": "succeeded"})
            with self.lock:
                self.answers.setdefault(key, answer)
                answer = self.answers[key]
        else:
            return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})"}}
        if mode == "slow":
            time.sleep(delay)  # charged, but the answer comes too late for the caller
        return answer

    def charged(self) -> dict[str, str]:
        """PaymentIntent id -> the payment id it charged."""
        with self.lock:
            return dict(self.charges)

    def close(self) -> None:
        self.server.shutdown()
