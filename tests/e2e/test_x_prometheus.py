"""A real Prometheus (Debian's, started by infra/local/observe.py as `make observe` starts it)
scrapes the four running services and evaluates every chart's alert rules (issue 20): after a
checkout, its HTTP API holds each service's request counters and outbox and consumer lag
series, and every rule evaluates without an error against the real series. Named to run after
test_x_dashboards.py, on the platform the other suites have driven, and before the rotation."""
import json
import socket
import sys
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from conftest import CONSUMERS, OFFSET, PORTS
from shop import ROOT, admin, create_product, expect, sign_up
from test_platform import add, checkout

sys.path.insert(0, str(ROOT / "infra" / "local"))
import observe  # noqa: E402
from topics import catalogue  # noqa: E402

# How long a series may take to show: Prometheus takes new targets on a 5 s tick, then scrapes
# (and evaluates the rules) every second here.
SETTLE = 30
# The services with an outbox: those that produce a topic of the catalogue.
PRODUCERS = sorted({topic["producer"] for topic in catalogue()})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def prometheus(running, tmp_path_factory, request) -> observe.Prometheus:
    handle = observe.start(tmp_path_factory.mktemp("prometheus"), free_port(), offset=OFFSET, interval="1s")
    request.addfinalizer(lambda: observe.stop(handle.dir))
    return handle


@pytest.fixture(scope="module")
def paid(platform, prometheus) -> dict:
    """One checkout to paid, once Prometheus watches."""
    boss = admin(platform)
    mug = create_product(platform, boss.token, stock=1)
    shopper = sign_up(platform)
    expect(add(platform, shopper, mug), 200, "add to cart")
    order = expect(checkout(platform, shopper), 201, "checkout").body
    assert order["status"] == "paid", order
    return order


def api(prometheus: observe.Prometheus, path: str, **params) -> dict:
    url = f"{prometheus.url}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.load(response)
    assert answer["status"] == "success", f"{url}: {answer}"
    return answer["data"]


def shown(result: list[dict]) -> str:
    """A query's series as `{job="…",topic="…"} 3`, or "no series"."""
    def labels(metric: dict) -> str:
        return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__") + "}"
    return ", ".join(f"{labels(s['metric'])} {s['value'][1]}" for s in result) or "no series"


def unmet(prometheus: observe.Prometheus, expectations: dict[str, tuple[str, object]]) -> list[str]:
    """Each expectation (what -> (PromQL, test of its result)) that does not hold within SETTLE
    seconds, with what its query gave last."""
    deadline = time.monotonic() + SETTLE
    while True:
        failing = []
        for what, (promql, holds) in expectations.items():
            result = api(prometheus, "query", query=promql)["result"]
            if not holds(result):
                failing.append(f"{what}: `{promql}` gives {shown(result)}")
        if not failing or time.monotonic() > deadline:
            return failing
        time.sleep(0.5)


def some(result: list[dict]) -> bool:
    return bool(result)


def at_least(n: float):
    return lambda result: bool(result) and all(float(s["value"][1]) >= n for s in result)


def test_prometheus_scrapes_every_service(prometheus):
    failing = unmet(prometheus, {
        f"{service} scraped": (f'up{{job="{service}"}}', lambda r: bool(r) and all(s["value"][1] == "1" for s in r))
        for service in PORTS})
    assert not failing, (f"Prometheus ({prometheus.url}/targets) does not scrape every service within {SETTLE} s:\n"
                         + "\n".join(failing))


def test_the_request_counters_of_every_service_count_the_checkout(prometheus, paid):
    expectations = {f"{service} counts its requests": (f'sum(http_requests_total{{job="{service}"}})', at_least(1))
                    for service in PORTS}
    expectations["cart-service counts the paid checkout"] = (
        'sum(http_requests_total{job="cart-service",method="POST",route="/v1/cart/checkout",status=~"2.."})',
        at_least(1))
    failing = unmet(prometheus, expectations)
    assert not failing, "request counters missing in Prometheus after a checkout:\n" + "\n".join(failing)


def test_every_outbox_and_every_consumer_reports_its_lag(prometheus, paid):
    assert PRODUCERS and CONSUMERS
    expectations = {}
    for service in PRODUCERS:
        for gauge in ["outbox_oldest_unsent_age_seconds", "outbox_unsent_events"]:
            expectations[f"{service}'s outbox lag ({gauge})"] = (f'{gauge}{{job="{service}"}}', some)
    for service in CONSUMERS:
        expectations[f"{service}'s consumer lag, by topic"] = (f'kafka_consumer_lag_messages{{job="{service}"}}', some)
    failing = unmet(prometheus, expectations)
    assert not failing, "lag series missing in Prometheus:\n" + "\n".join(failing)


def chart_groups() -> dict[str, str]:
    """Every rule group of the four charts, with its file."""
    groups = {}
    for service in PORTS:
        path = ROOT / service / "chart" / "alerts" / "rules.yaml"
        groups.update({group["name"]: str(path) for group in yaml.safe_load(path.read_text())["groups"]})
    return groups


def test_every_charts_rules_are_loaded_and_evaluate_without_error(prometheus, paid):
    expected = chart_groups()
    deadline = time.monotonic() + SETTLE
    while True:
        loaded = {group["name"]: group for group in api(prometheus, "rules")["groups"]}
        # Evaluated at least once: a rule that never ran has health "unknown".
        evaluated = all(rule["health"] != "unknown" for name in expected if name in loaded
                        for rule in loaded[name]["rules"])
        if (expected.keys() <= loaded.keys() and evaluated) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    missing = sorted(expected.keys() - loaded.keys())
    assert not missing, f"rule groups Prometheus did not load: {missing} (loaded: {sorted(loaded)})"
    wrong_file = {name: loaded[name]["file"] for name, file in expected.items() if loaded[name]["file"] != file}
    assert not wrong_file, f"rule groups loaded from another file than their chart's: {wrong_file}"
    unhealthy = [f"{name}/{rule['name']}: {rule['health']} {rule.get('lastError', '')}".rstrip()
                 for name in expected for rule in loaded[name]["rules"] if rule["health"] != "ok"]
    assert not unhealthy, f"rules that do not evaluate cleanly after {SETTLE} s:\n" + "\n".join(unhealthy)
