#!/usr/bin/env python3
"""Consistency auditor: reads every store of the platform and reports what breaks its promises.

  python3 tools/audit/audit.py [--grace SECONDS] [--json]      (make audit)

Checks (a violation is printed with the ids involved; the exit code is 1 when there is any, 2
when a store cannot be read):
  stock        a product's reserved count differs from the lines of its open reservations
  ledger       stock on hand is not initial ± adjustments − sold by its stock ledger, a change
               of stock has no reason (made outside the service), or the units the ledger
               sold differ from the lines of committed reservations
  paid-lines   a committed checkout's payment names other products or quantities than its
               reservation sold
  paid-open    a payment succeeded for a checkout whose reservation is not committed
  committed    a reservation committed with no successful payment for its checkout
  double       more than one successful payment for one checkout (a double charge)
  event        a succeeded payment whose PaymentSucceeded event is not marked sent
  order        an order in auth's history with no payment behind it
  outbox       outbox rows older than the grace period still unsent (any service)

Rows younger than --grace (60 s) are left alone: a checkout in flight is not a violation.
Databases: AUDIT_AUTH_DB (auth), AUDIT_PRODUCT_DB (product), AUDIT_PAYMENT_DB (payment); logins
as `make setup` creates them (PGHOST/PGPORT, AUDIT_MYSQL_HOST/AUDIT_MYSQL_PORT). Read-only: the
auditor only runs SELECTs. Direct `Charge` calls without a checkout (the load generator's) have no
reservation and are not orders: they are only checked for their event.
"""
import argparse
import json
import os
import re
import subprocess
import sys

UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def psql(database: str, login: str, sql: str) -> list[list[str]]:
    host, port = os.environ.get("PGHOST", "127.0.0.1"), os.environ.get("PGPORT", "5432")
    out = subprocess.run(["psql", "-h", host, "-p", port, "-U", login, "-d", database, "-XAt", "-F", "\t", "-c", sql],
                         check=True, capture_output=True, text=True, env={**os.environ, "PGPASSWORD": login})
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def mysql(database: str, sql: str, raw: bool = False):
    host, port = os.environ.get("AUDIT_MYSQL_HOST", "127.0.0.1"), os.environ.get("AUDIT_MYSQL_PORT", "3306")
    out = subprocess.run(["mysql", f"-h{host}", f"-P{port}", "-upayment", "-ppayment", "-N", "-B", *(["--raw"] if raw else []),
                          "-e", sql, database], check=True, capture_output=True)
    return out.stdout if raw else [line.split("\t") for line in out.stdout.decode().splitlines() if line]


def audit(auth_db: str, product_db: str, payment_db: str, grace: int) -> list[dict]:
    violations = []

    def report(check, detail, **ids):
        violations.append({"check": check, "detail": detail, **ids})

    # Stock: reserved = the quantities of open reservations.
    for product_id, reserved, held in psql(product_db, "product", """
        SELECT p.id, p.reserved, COALESCE(SUM(l.quantity) FILTER (WHERE r.state = 'reserved'), 0)
        FROM products p
        LEFT JOIN reservation_lines l ON l.product_id = p.id
        LEFT JOIN reservations r ON r.id = l.reservation_id
        GROUP BY p.id, p.reserved
        HAVING p.reserved <> COALESCE(SUM(l.quantity) FILTER (WHERE r.state = 'reserved'), 0)"""):
        report("stock", f"reserved {reserved} but open reservations hold {held}", product_id=product_id)

    # Ledger: on hand = initial ± adjustments − sold, every change explained, sales = commits.
    for product_id, on_hand, total, unexplained, sold, committed in psql(product_db, "product", """
        WITH ledger AS (
            SELECT product_id, SUM(delta) AS total, COUNT(*) FILTER (WHERE reason = 'unexplained') AS unexplained,
                   -COALESCE(SUM(delta) FILTER (WHERE reason = 'sale'), 0) AS sold
            FROM stock_movements GROUP BY product_id),
        commits AS (
            SELECT l.product_id, SUM(l.quantity) AS units FROM reservation_lines l
            JOIN reservations r ON r.id = l.reservation_id WHERE r.state = 'committed' GROUP BY l.product_id)
        SELECT p.id, p.on_hand, COALESCE(g.total, 0), COALESCE(g.unexplained, 0), COALESCE(g.sold, 0),
               COALESCE(c.units, 0)
        FROM products p LEFT JOIN ledger g ON g.product_id = p.id LEFT JOIN commits c ON c.product_id = p.id
        WHERE p.on_hand <> COALESCE(g.total, 0) OR COALESCE(g.unexplained, 0) > 0
           OR COALESCE(g.sold, 0) <> COALESCE(c.units, 0)"""):
        if on_hand != total:
            report("ledger", f"on hand {on_hand} but the ledger adds up to {total}", product_id=product_id)
        if unexplained != "0":
            report("ledger", f"{unexplained} change(s) of stock made outside the service", product_id=product_id)
        if sold != committed:
            report("ledger", f"the ledger sold {sold} units, committed reservations {committed}", product_id=product_id)

    reservations = {rid: (state, int(age)) for rid, state, age in psql(product_db, "product",
                    "SELECT id, state, EXTRACT(EPOCH FROM now() - updated_at)::bigint FROM reservations")}
    payments = mysql(payment_db, "SELECT id, order_id, status, TIMESTAMPDIFF(SECOND, updated_at, NOW(6)) FROM payments")
    paid_orders = set()
    succeeded = {}
    for payment_id, order_id, status, age in payments:
        if status in ("succeeded", "partially_refunded", "refunded"):
            paid_orders.add(order_id)
            succeeded[payment_id] = int(age)
        reservation = reservations.get(order_id)
        # A refunded payment is the saga's answer to a reservation that expired first.
        if status in ("succeeded", "partially_refunded") and reservation and reservation[0] != "committed" \
                and int(age) > grace:
            report("paid-open", f"payment {status}, reservation {reservation[0]}", payment_id=payment_id, order_id=order_id)
    charges = {}
    for _, order_id, status, _ in payments:
        if status in ("succeeded", "partially_refunded", "refunded"):
            charges[order_id] = charges.get(order_id, 0) + 1
    for order_id, count in charges.items():
        if count > 1:
            report("double", f"{count} successful payments for one checkout", order_id=order_id)
    for reservation_id, (state, age) in reservations.items():
        if state == "committed" and reservation_id not in paid_orders and age > grace:
            report("committed", "reservation committed without a successful payment", order_id=reservation_id)

    # What was paid for is what was sold: a committed checkout's payment lines match its reservation.
    sold_lines = {}
    for reservation_id, product_id, quantity in psql(product_db, "product", """
        SELECT r.id, l.product_id, l.quantity FROM reservations r JOIN reservation_lines l ON l.reservation_id = r.id
        WHERE r.state = 'committed'"""):
        sold_lines.setdefault(reservation_id, {})[product_id] = int(quantity)
    for order_id, lines in mysql(payment_db, "SELECT order_id, order_lines FROM payments "
                                             "WHERE status IN ('succeeded', 'partially_refunded', 'refunded')"):
        sold = sold_lines.get(order_id)
        if sold is None:
            continue
        paid = {}
        for line in json.loads(lines):
            paid[line["product_id"]] = paid.get(line["product_id"], 0) + int(line["quantity"])
        if paid != sold:
            report("paid-lines", f"paid for {paid}, sold {sold}", order_id=order_id)

    # Events: every succeeded payment is named in a sent PaymentSucceeded envelope.
    envelopes = mysql(payment_db, "SELECT envelope FROM outbox WHERE event_type = 'shop.events.v1.PaymentSucceeded' "
                                  "AND sent_at IS NOT NULL", raw=True)
    announced = {m.decode() for m in UUID.findall(envelopes)}
    for payment_id, age in succeeded.items():
        if payment_id not in announced and age > grace:
            report("event", "succeeded payment without a sent PaymentSucceeded", payment_id=payment_id)

    # Orders: auth's history only holds real payments.
    known_payments = {p[0] for p in payments}
    for payment_id, order_id in psql(auth_db, "auth", "SELECT payment_id, order_id FROM orders"):
        if payment_id not in known_payments:
            report("order", "an order in auth's history has no payment", payment_id=payment_id, order_id=order_id)

    # Outboxes drain while the broker is up.
    for service, rows in [
        ("auth", psql(auth_db, "auth", f"SELECT count(*) FROM outbox WHERE sent_at IS NULL AND created_at < now() - interval '{grace} seconds'")),
        ("product", psql(product_db, "product", f"SELECT count(*) FROM outbox WHERE sent_at IS NULL AND created_at < now() - interval '{grace} seconds'")),
        ("payment", mysql(payment_db, f"SELECT count(*) FROM outbox WHERE sent_at IS NULL AND created_at < NOW(6) - INTERVAL {grace} SECOND")),
    ]:
        if int(rows[0][0]) > 0:
            report("outbox", f"{rows[0][0]} rows older than {grace} s unsent", service=service)
    return violations


def main() -> int:
    try:
        return run()
    except subprocess.CalledProcessError as e:
        stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        print(f"audit: cannot read a store ({e.cmd[0]}): {stderr.strip()} — is the platform set up (make run)?",
              file=sys.stderr)
        return 2


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grace", type=int, default=60, help="seconds a row may be in flight (60)")
    parser.add_argument("--json", action="store_true", help="print the violations as JSON")
    args = parser.parse_args()
    found = audit(os.environ.get("AUDIT_AUTH_DB", "auth"), os.environ.get("AUDIT_PRODUCT_DB", "product"),
                  os.environ.get("AUDIT_PAYMENT_DB", "payment"), args.grace)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for v in found:
            print(f"VIOLATION {v['check']}: {v['detail']} " + " ".join(f"{k}={v[k]}" for k in v if k not in ("check", "detail")))
        print(f"audit: {len(found)} violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
