"""A stand-in for PayPal's REST API on loopback, for the end-to-end tests: the outside world, the
one thing the platform may run against a fake of. Like PayPal it issues OAuth2 client-credentials
tokens, keeps Orders v2 orders with `PayPal-Request-Id` idempotency (a repeated id gets the first
answer and creates nothing), captures only approved orders (once), refunds captures, and checks
webhook signatures through `/v1/notifications/verify-webhook-signature`. Its buyer's approval
page (`/checkoutnow?token=<order id>`, the link orders carry) marks the order approved and, like
PayPal, delivers a signed `CHECKOUT.ORDER.APPROVED` to the webhook URL; a capture delivers
`PAYMENT.CAPTURE.COMPLETED`. It counts what it created, so a test can prove what was taken."""
import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "e2e-paypal-client"
CLIENT_SECRET = "e2e-paypal-secret-never-logged"
WEBHOOK_ID = "WH-E2E-0001"
# Transmission signatures are an HMAC of the transmission id and the event's bytes with this key:
# only what the stand-in itself sent verifies.
SIGNING_KEY = secrets.token_bytes(32)


def sign(transmission_id: str, body: bytes) -> str:
    return hmac.new(SIGNING_KEY, transmission_id.encode() + b"|" + body, hashlib.sha256).hexdigest()


class PayPalStandIn:
    def __init__(self):
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.answers: dict[str, tuple[int, dict]] = {}  # scope:request id -> first answer
        self.orders: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.captures = 0
        self.webhook_url = ""
        self.delivered: list[tuple[str, int]] = []  # (event type, payment's answer)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_GET(self):
                if self.path.startswith("/checkoutnow?token="):
                    self.reply(*stand_in.approve(self.path.split("token=", 1)[1]))
                elif not stand_in.authorised(self.headers):
                    self.reply(401, {"error": "invalid_token"})
                elif m := re.fullmatch(r"/v2/checkout/orders/([\w-]+)", self.path):
                    self.reply(*stand_in.find(stand_in.orders, m[1]))
                elif m := re.fullmatch(r"/v2/payments/refunds/([\w-]+)", self.path):
                    self.reply(*stand_in.find(stand_in.refunds, m[1]))
                else:
                    self.reply(404, {"name": "RESOURCE_NOT_FOUND"})

            def do_POST(self):
                raw = self.body()
                if self.path == "/v1/oauth2/token":
                    self.reply(*stand_in.token(self.headers.get("Authorization", "")))
                    return
                if not stand_in.authorised(self.headers):
                    self.reply(401, {"error": "invalid_token"})
                    return
                request_id = self.headers.get("PayPal-Request-Id", "")
                body = json.loads(raw or b"{}")
                if self.path == "/v2/checkout/orders":
                    self.reply(*stand_in.once(f"order:{request_id}", lambda: stand_in.create(body)))
                elif m := re.fullmatch(r"/v2/checkout/orders/([\w-]+)/capture", self.path):
                    self.reply(*stand_in.once(f"capture:{request_id}", lambda: stand_in.capture(m[1])))
                elif m := re.fullmatch(r"/v2/payments/captures/([\w-]+)/refund", self.path):
                    self.reply(*stand_in.once(f"refund:{request_id}", lambda: stand_in.refund(m[1], body)))
                elif self.path == "/v1/notifications/verify-webhook-signature":
                    self.reply(*stand_in.verify(raw))
                else:
                    self.reply(404, {"name": "RESOURCE_NOT_FOUND"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, authorization: str) -> tuple[int, dict]:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if not hmac.compare_digest(authorization, expected):
            return 401, {"error": "invalid_client"}
        token = "A21AA" + secrets.token_hex(16)
        with self.lock:
            self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 32400}

    def authorised(self, headers) -> bool:
        with self.lock:
            return headers.get("Authorization", "").removeprefix("Bearer ") in self.tokens

    def once(self, key: str, work) -> tuple[int, dict]:
        with self.lock:
            if key in self.answers:
                return self.answers[key]
        answer = work()
        with self.lock:
            self.answers.setdefault(key, answer)
            return self.answers[key]

    def find(self, table: dict, id: str) -> tuple[int, dict]:
        with self.lock:
            found = table.get(id)
        return (200, found) if found else (404, {"name": "RESOURCE_NOT_FOUND", "details": [{"issue": "INVALID_RESOURCE_ID"}]})

    def create(self, body: dict) -> tuple[int, dict]:
        unit = body["purchase_units"][0]
        order_id = "E2E" + secrets.token_hex(6).upper()
        order = {
            "id": order_id, "status": "PAYER_ACTION_REQUIRED", "intent": "CAPTURE",
            "purchase_units": [{"reference_id": unit["reference_id"], "custom_id": unit["custom_id"],
                                "amount": unit["amount"]}],
            "links": [{"href": f"{self.url}/checkoutnow?token={order_id}", "rel": "payer-action", "method": "GET"}],
        }
        with self.lock:
            self.orders[order_id] = order
        return 200, order

    def approve(self, order_id: str) -> tuple[int, dict]:
        """The buyer approves on PayPal's page; PayPal tells the shop."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return 404, {"name": "RESOURCE_NOT_FOUND"}
            if order["status"] == "PAYER_ACTION_REQUIRED":
                order["status"] = "APPROVED"
        self.deliver("CHECKOUT.ORDER.APPROVED", {"id": order_id, "status": "APPROVED"})
        return 200, {"approved": order_id}

    def capture(self, order_id: str) -> tuple[int, dict]:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return 404, {"name": "RESOURCE_NOT_FOUND", "details": [{"issue": "INVALID_RESOURCE_ID"}]}
            if order["status"] == "COMPLETED":
                return 422, {"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "ORDER_ALREADY_CAPTURED"}]}
            if order["status"] != "APPROVED":
                return 422, {"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "ORDER_NOT_APPROVED"}]}
            unit = order["purchase_units"][0]
            capture = {"id": "CAP" + secrets.token_hex(6).upper(), "status": "COMPLETED", "amount": unit["amount"],
                       "custom_id": unit["custom_id"],
                       "supplementary_data": {"related_ids": {"order_id": order_id}}}
            unit["payments"] = {"captures": [capture]}
            order["status"] = "COMPLETED"
            self.captures += 1
            answer = json.loads(json.dumps(order))
        threading.Thread(target=self.deliver, args=("PAYMENT.CAPTURE.COMPLETED", capture), daemon=True).start()
        return 201, answer

    def refund(self, capture_id: str, body: dict) -> tuple[int, dict]:
        refund = {"id": "REF" + secrets.token_hex(6).upper(), "status": "COMPLETED", "amount": body.get("amount"),
                  "invoice_id": body.get("invoice_id")}
        with self.lock:
            captured = any(o["purchase_units"][0].get("payments", {}).get("captures", [{}])[0].get("id") == capture_id
                           for o in self.orders.values())
            if not captured:
                return 404, {"name": "RESOURCE_NOT_FOUND", "details": [{"issue": "INVALID_RESOURCE_ID"}]}
            self.refunds[refund["id"]] = refund
        return 201, refund

    def verify(self, raw: bytes) -> tuple[int, dict]:
        text = raw.decode()
        fields = json.loads(text)
        # The event's bytes as the caller sent them: everything after `"webhook_event":`.
        event = text.split('"webhook_event":', 1)[1].rstrip()[:-1].encode()
        good = (fields.get("webhook_id") == WEBHOOK_ID
                and hmac.compare_digest(fields.get("transmission_sig", ""), sign(fields.get("transmission_id", ""), event)))
        return 200, {"verification_status": "SUCCESS" if good else "FAILURE"}

    def deliver(self, event_type: str, resource: dict, signature: str | None = None) -> int:
        """Posts a webhook event to the shop as PayPal does; payment's HTTP status."""
        body = json.dumps({"id": "WH-" + uuid.uuid4().hex.upper(), "event_type": event_type,
                           "resource": resource}).encode()
        transmission_id = str(uuid.uuid4())
        request = urllib.request.Request(self.webhook_url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-CERT-URL": f"{self.url}/certs/e2e",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-SIG": signature or sign(transmission_id, body),
            "PAYPAL-TRANSMISSION-TIME": "2026-12-07T00:00:00Z",
        })
        try:
            status = urllib.request.urlopen(request, timeout=10).status
        except urllib.error.HTTPError as refused:
            status = refused.code
        with self.lock:
            self.delivered.append((event_type, status))
        return status

    def captures_of(self, order_id: str) -> int:
        with self.lock:
            order = self.orders.get(order_id, {})
            return len(order.get("purchase_units", [{}])[0].get("payments", {}).get("captures", []))
