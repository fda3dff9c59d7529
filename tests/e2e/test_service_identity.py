"""Service identity (issue "Service identity"), against the running platform: internal gRPC is
mutual TLS with a certificate per service from the platform's CA. A client holding only a
shopper's token (the shopper's own, for the shopper's own paid payment) cannot refund, charge,
reserve, commit or release anything; neither can another platform service, nor a certificate of
another CA; nor can any of them verify a token or look a user up at auth (introspection is for
the services that check tokens). The calls are raw gRPC (hand-encoded protobuf), as an attacker would make them."""
import subprocess
import uuid
from pathlib import Path

import grpc

from conftest import PORTS
from shop import admin, call as call_rest, create_product, expect, sign_up
from test_money import payment_sql
from test_platform import add, assert_available, checkout

AUTH = "/shop.auth.v1.AuthService/"
PAYMENT = "/shop.payment.v1.PaymentService/"
PRODUCT = "/shop.product.v1.ProductService/"


def field(number: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (strings and embedded messages)."""
    length, out = len(value), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([number << 3 | 2]) + bytes(out) + value


def varint_field(number: int, value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes([number << 3]) + bytes(out)


def money(amount_minor: int, currency: str = "EUR") -> bytes:
    return varint_field(1, amount_minor) + field(2, currency.encode())


def channel(service: str, pki: Path, identity: Path | None) -> grpc.Channel:
    """TLS to the service's gRPC port, trusting the platform CA, presenting `identity`'s
    certificate (or none)."""
    key = cert = None
    if identity is not None:
        key, cert = (identity / "tls.key").read_bytes(), (identity / "tls.crt").read_bytes()
    credentials = grpc.ssl_channel_credentials((pki / "ca.crt").read_bytes(), key, cert)
    return grpc.secure_channel(f"127.0.0.1:{PORTS[service][1]}", credentials,
                               options=[("grpc.ssl_target_name_override", service)])


def call(chan: grpc.Channel, method: str, message: bytes, token: str | None = None) -> grpc.StatusCode:
    """The status code of one unary call (OK when it went through)."""
    metadata = [("authorization", f"Bearer {token}")] if token else None
    try:
        chan.unary_unary(method)(message, metadata=metadata, timeout=5)
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.code()


def other_ca(tmp: Path) -> Path:
    """A whole other PKI with a certificate naming cart-service."""
    subprocess.run(["bash", "infra/local/pki.sh", str(tmp)], check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parents[2])
    return tmp / "cart-service"


def test_a_shoppers_own_token_refunds_charges_and_moves_no_stock_without_carts_identity(platform, running, tmp_path):
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=5)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add")
    paid = expect(checkout(platform, shopper, str(uuid.uuid4())), 201, "checkout").body
    payment_id, order = paid["payment_id"], paid["checkout_id"]
    assert_available(platform, mug, 4)

    refund = field(1, uuid.uuid4().hex.encode()) + field(2, payment_id.encode()) + field(3, money(1250)) \
        + field(4, b"requested_by_customer")
    new_order = str(uuid.uuid4())
    charge = field(1, new_order.encode()) + field(2, new_order.encode()) + field(3, money(1250)) \
        + field(4, b"tok_visa")
    reserve = field(1, str(uuid.uuid4()).encode()) + field(2, field(1, mug.encode()) + varint_field(2, 4))
    held = field(1, order.encode())
    commit = held + field(2, money(1250))
    introspect = field(1, shopper.token.encode())
    attempts = [("auth-service", AUTH + "VerifyToken", introspect),
                ("auth-service", AUTH + "GetUser", field(1, shopper.user_id.encode())),
                ("payment-service", PAYMENT + "Refund", refund), ("payment-service", PAYMENT + "Charge", charge),
                ("product-service", PRODUCT + "ReserveStock", reserve),
                ("product-service", PRODUCT + "CommitReservation", commit),
                ("product-service", PRODUCT + "ReleaseReservation", held)]
    pki = running.pki
    callers = {
        "the shopper's token alone": (None, grpc.StatusCode.UNAUTHENTICATED),
        # auth calls none of these, itself included.
        "auth-service's certificate": (pki / "auth-service", grpc.StatusCode.PERMISSION_DENIED),
        "another CA's cart-service": (other_ca(tmp_path / "other"), grpc.StatusCode.UNAVAILABLE),
    }
    for who, (identity, expected) in callers.items():
        for service, method, message in attempts:
            with channel(service, pki, identity) as chan:
                assert call(chan, method, message, shopper.token) == expected, f"{who}: {method}"
    # Plain text reaches no method either.
    with grpc.insecure_channel(f"127.0.0.1:{PORTS['payment-service'][1]}") as chan:
        assert call(chan, PAYMENT + "Refund", refund, shopper.token) != grpc.StatusCode.OK

    assert payment_sql(running, f"SELECT status, refunded_minor FROM payments WHERE id = '{payment_id}'") \
        == "succeeded\t0", "nothing refunded"
    assert payment_sql(running, f"SELECT count(*) FROM payments WHERE order_id = '{new_order}'") == "0", "no charge"
    assert_available(platform, mug, 4, "no unit reserved, sold or released")
    # cart's own identity gets through: the same refund as the saga would ask it.
    with channel("auth-service", pki, pki / "cart-service") as chan:
        assert call(chan, AUTH + "VerifyToken", introspect) == grpc.StatusCode.OK, "cart checks tokens"
    with channel("payment-service", pki, pki / "cart-service") as chan:
        assert call(chan, PAYMENT + "Refund", refund, shopper.token) == grpc.StatusCode.OK
    assert payment_sql(running, f"SELECT status FROM payments WHERE id = '{payment_id}'") == "refunded"



def test_a_shopper_token_alone_introspects_nothing(platform):
    """auth's REST port has no introspection: RFC 7662 expects its caller to authenticate, and
    the services ask gRPC VerifyToken with their certificates instead (the test above)."""
    shopper = sign_up(platform)
    for body in ({"token": shopper.token}, None):
        answer = call_rest("POST", f"{platform.auth}/v1/auth/introspect", body, token=shopper.token)
        assert answer.status == 404, answer.body
    # The token itself still works where the shopper uses it.
    expect(call_rest("GET", f"{platform.auth}/v1/auth/me", token=shopper.token), 200, "me")
