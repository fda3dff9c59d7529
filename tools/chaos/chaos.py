#!/usr/bin/env python3
"""Faults under load: the mixed shopper journey runs (loadgen, fixed rate, bounded) while one
fault at a time hits the running platform, then the consistency auditor reads every store.

  python3 tools/chaos/chaos.py [--short] [--rate R]        (make chaos runs it on `make run`)

Faults: kill -9 of each service, restarted after 3 s; kill -9 of the broker, restarted after
30 s (10 s with --short) on its durable SQLite log; a burst of duplicate, out-of-order events
(each outbox's newest 200 sent rows marked unsent, so the relays publish them again).
Pass, per fault: no 500 (or other 5xx but 503), every 503 with Retry-After, every service ready
within 30 s of the fault's end, and the auditor clean (no double charge, no oversell, nothing
paid but unreserved, every payment announced, every outbox drained) within 60 s of the load.
Transport errors (refused connections) while the entry service itself is down are counted,
not failed: nothing can answer for a dead process but a load balancer's other replica.
Results: bench/results/chaos-<date>.json and a summary on stdout; exit 1 when a fault failed.
Loopback only; the shared PostgreSQL, MariaDB and Redis are never stopped (see the note in
docs/RELIABILITY.md for the store faults' own tests).
"""
import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOADGEN = ROOT / "target" / "release" / "loadgen"
STATE = ROOT / ".local"
SERVICES = {"auth-service": 8081, "product-service": 8082, "cart-service": 8083, "payment-service": 8084}
ENTRY = {"auth-service", "product-service", "cart-service"}  # what the journey calls directly


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_all_ready(timeout: float) -> float | None:
    """Seconds until every service answers /readyz 200, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(ready(port) for port in SERVICES.values()):
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def pid_of(service: str) -> int:
    return int((STATE / "run" / f"{service}.pid").read_text().strip())


def start_services():
    subprocess.run(["bash", str(ROOT / "infra/local/services.sh"), "start"], check=True, capture_output=True,
                   env={**os.environ, "PROFILE": "release"})


def start_broker():
    subprocess.run(["bash", str(ROOT / "infra/local/start.sh")], check=True, capture_output=True)


class Load:
    """The mixed journey at `rate` for `seconds`, started now; `.result()` is loadgen's JSON."""

    def __init__(self, rate: int, seconds: int):
        self.process = subprocess.Popen(
            [str(LOADGEN), "run", "journey", "--rate", str(rate), "--duration", str(seconds), "--warm-up", "0"],
            cwd=ROOT / "loadgen", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in self.process.stdout:  # fixtures first: shoppers sign up
            if line.startswith("measuring"):
                return
        raise RuntimeError(f"loadgen stopped before measuring: {self.process.stderr.read()}")

    def result(self) -> dict:
        out, err = self.process.communicate(timeout=600)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError(f"loadgen printed no result: {err}")
        return json.loads(lines[-1])


def audit_clean(timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["python3", str(ROOT / "tools/audit/audit.py"), "--json", "--grace", "10"],
                             capture_output=True, text=True)
        found = json.loads(out.stdout) if out.stdout.strip() else [{"check": "auditor", "detail": out.stderr}]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(2)


def ready_since(started: float, timeout: float = 30) -> float | None:
    """Seconds from `started` (the dependency back) until every service is ready again."""
    waited = wait_all_ready(timeout - (time.monotonic() - started))
    return None if waited is None else time.monotonic() - started


def kill_service(service: str):
    def fault() -> float | None:
        os.kill(pid_of(service), signal.SIGKILL)
        time.sleep(3)
        restarted = time.monotonic()
        start_services()  # returns once the restarted service answers /readyz
        return ready_since(restarted)
    return fault


def kill_broker(down: int):
    def fault() -> float | None:
        os.kill(int((STATE / "broker" / "tansu.pid").read_text().strip()), signal.SIGKILL)
        time.sleep(down)
        restarted = time.monotonic()
        start_broker()
        return ready_since(restarted)
    return fault


def replay_events(count: int):
    """Marks each outbox's newest `count` sent rows unsent: the relays publish them again, so
    every consumer gets a burst of duplicates older than what it already applied."""
    def fault() -> float | None:
        for login in ["auth", "product"]:
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", login, "-d", login, "-Xqc",
                            "UPDATE outbox SET sent_at = NULL WHERE id IN "
                            f"(SELECT id FROM outbox WHERE sent_at IS NOT NULL ORDER BY id DESC LIMIT {count})"],
                           check=True, capture_output=True, env={**os.environ, "PGPASSWORD": login})
        subprocess.run(["mysql", "-h127.0.0.1", "-upayment", "-ppayment", "payment", "-e",
                        f"UPDATE outbox SET sent_at = NULL WHERE sent_at IS NOT NULL ORDER BY id DESC LIMIT {count}"],
                       check=True, capture_output=True)
        return wait_all_ready(30)
    return fault


def verdict(fault: str, load: dict, recovery: float | None, violations: list[dict]) -> list[str]:
    problems = []
    entry_down = fault.startswith("kill -9 ") and fault.split()[-1] in ENTRY
    for reason, n in load["error_reasons"].items():
        if reason == "status 503":
            continue  # unavailable, with Retry-After: the promised answer during a fault
        if not reason.startswith("status ") and entry_down:
            continue  # the process that would answer was dead
        problems.append(f"{n}x {reason}")
    if recovery is None:
        problems.append("not every service was ready within 30 s")
    problems += [f"audit: {v['check']}: {v['detail']}" for v in violations]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="shorter load and broker outage (the quick version)")
    parser.add_argument("--rate", type=int, default=300, help="journey calls per second during faults (300)")
    parser.add_argument("--only", default="", help="run only the faults whose name contains this text")
    args = parser.parse_args()
    seconds, broker_down = (20, 10) if args.short else (60, 30)
    assert wait_all_ready(5) is not None, "start the platform first: make run (make chaos does)"

    faults = [(f"kill -9 {s}", kill_service(s)) for s in SERVICES]
    faults += [(f"kill -9 broker for {broker_down} s", kill_broker(broker_down)),
               ("duplicate and out-of-order events", replay_events(200))]
    faults = [(name, fault) for name, fault in faults if args.only in name]
    results = []
    for name, fault in faults:
        print(f"==> {name} under {args.rate}/s for {seconds} s", flush=True)
        load = Load(args.rate, seconds)
        time.sleep(3)
        recovery = fault()
        outcome = load.result()
        violations = audit_clean(60)
        problems = verdict(name, outcome, recovery, violations)
        results.append({"fault": name, "requests": outcome["requests"], "calls": outcome["calls"],
                        "errors": outcome["errors"], "error_reasons": outcome["error_reasons"],
                        "p99_ms": outcome["p99_ms"], "ready_after_s": recovery, "violations": violations,
                        "problems": problems, "passed": not problems})
        print(f"    {outcome['calls']} calls, {outcome['errors']} errors {outcome['error_reasons']}, "
              f"ready after {recovery if recovery is None else round(recovery, 1)} s, "
              f"{len(violations)} violations: {'PASS' if not problems else 'FAIL ' + '; '.join(problems)}", flush=True)

    date = datetime.date.today().isoformat()
    out = ROOT / "bench" / "results" / f"chaos-{date}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": date, "rate": args.rate, "seconds": seconds, "results": results}, indent=2))
    failed = [r["fault"] for r in results if not r["passed"]]
    total = sum(r["calls"] for r in results)
    print(f"chaos: {len(results)} faults, {total} journey calls, "
          f"{sum(len(r['violations']) for r in results)} violations, failed: {failed or 'none'} ({out})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
