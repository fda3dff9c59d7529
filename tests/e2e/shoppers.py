"""Shoppers on several threads through one entry, as the replica tests (local proxy and compose)
drive it: each journey signs up, reads a product, adds it with an Idempotency-Key, reads the
cart and checks out, and everything each request got is recorded for the test to judge."""
import concurrent.futures
import threading
import time
import uuid

from shop import Platform, call, sign_up, wait_until

# Answers "checkout in progress" (409, Retry-After) the shoppers were given and asked again
# after: a test prints how many, a cut checkout's wait for the dead replica's heartbeat to lapse.
IN_PROGRESS_ANSWERS = [0]
_COUNTING = threading.Lock()


def in_progress(response) -> bool:
    return (response.status == 409 and isinstance(response.body, dict)
            and response.body.get("error", {}).get("code") == "checkout_in_progress")


def write(method: str, url: str, body, token: str, key: str):
    """A write as a careful client sends it: a 5xx or a cut connection (the replica died on it)
    is sent once more with the same Idempotency-Key. A checkout the API says is still under way
    (409 checkout_in_progress: its first try was cut on a replica that died, and the proxy sent
    it on) is asked about again after Retry-After, with the same key."""
    headers = {"Idempotency-Key": key}
    retried = ""  # what the first try got when it was sent again: a failed test says why
    try:
        response = call(method, url, body, token, headers)
    except OSError as error:
        response, retried = None, f"cut: {error!r}"
    if response is None or response.status >= 500:
        retried = retried or f"{response.status} {response.body}"
        response = call(method, url, body, token, headers)
    for _ in range(40):
        if not in_progress(response):
            break
        with _COUNTING:
            IN_PROGRESS_ANSWERS[0] += 1
        time.sleep(float(response.headers.get("retry-after", "1")))
        response = call(method, url, body, token, headers)
    return response, retried


def journey(shop: Platform, product_id: str, record) -> None:
    """One shopper through the entry: sign up, read the product, add it, read the cart, check out."""
    shopper = sign_up(shop)
    reads = [call("GET", f"{shop.product}/v1/products/{product_id}")]
    added, add_retried = write("POST", f"{shop.cart}/v1/cart/items", {"product_id": product_id, "quantity": 1},
                               shopper.token, str(uuid.uuid4()))
    cart = call("GET", f"{shop.cart}/v1/cart", token=shopper.token)
    reads.append(cart)
    key = str(uuid.uuid4())
    paid, pay_retried = write("POST", f"{shop.cart}/v1/cart/checkout", {"payment_token": "tok_visa"}, shopper.token, key)
    record(reads, [("add", added, add_retried), ("checkout", paid, pay_retried)],
           cart.body if cart.status == 200 else {"lines": []})


class Stream:
    """Shoppers on four threads through the entry until `stop()`: every read, write and error."""

    def __init__(self, shop: Platform, product_id: str):
        self.lock, self.stopping = threading.Lock(), threading.Event()
        self.reads, self.writes, self.quantities, self.errors, self.done = [], [], [], [], []
        self.product_id = product_id
        self.pool = concurrent.futures.ThreadPoolExecutor(4)
        self.loops = [self.pool.submit(self.loop, shop) for _ in range(4)]

    def record(self, reads, writes, cart):
        with self.lock:
            self.reads.extend(reads)
            self.writes.extend(writes)
            self.quantities.extend(line["quantity"] for line in cart["lines"] if line["product_id"] == self.product_id)
            self.done.append(1)

    def loop(self, shop: Platform):
        while not self.stopping.is_set():
            try:
                journey(shop, self.product_id, self.record)
            except (AssertionError, OSError, KeyError, TypeError) as error:
                with self.lock:
                    self.errors.append(repr(error))

    def wait_for_journeys(self, n: int, what: str):
        at = len(self.done)
        wait_until(what, lambda: len(self.done) >= at + n, timeout=120)

    def stop(self):
        self.stopping.set()
        for loop in self.loops:
            loop.result(timeout=120)
        self.pool.shutdown()
