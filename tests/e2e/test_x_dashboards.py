"""Every metric a chart's dashboard or alert rules read is one the running service exports
(issue 20): read from each service's live /metrics after the other suites have driven it (named
to run late: labelled series appear once something was counted)."""
import json
import re
import sys

import pytest
import yaml

from conftest import PORTS
from shop import ROOT, call

sys.path.insert(0, str(ROOT / "tests" / "deploy"))
from promql import metric_names  # noqa: E402

# Series Prometheus makes itself.
PROMETHEUS_OWN = {"up"}


def exported(service: str) -> set[str]:
    text = str(call("GET", f"http://127.0.0.1:{PORTS[service][0]}/metrics", timeout=5).body)
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def read_by_the_chart(service: str) -> set[str]:
    chart = ROOT / service / "chart"
    board = json.loads((chart / "dashboards" / f"{service}.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs += [r["expr"] for g in yaml.safe_load((chart / "alerts" / "rules.yaml").read_text())["groups"] for r in g["rules"]]
    return {n for e in exprs for n in metric_names(e) if ":" not in n and n not in PROMETHEUS_OWN}


@pytest.mark.parametrize("service", list(PORTS))
def test_every_metric_the_dashboard_and_alerts_read_is_exported_by_the_running_service(running, service):
    live = exported(service)
    missing = sorted(name for name in read_by_the_chart(service) if name not in live)
    assert not missing, f"{service} does not export {missing}"


def test_a_dashboard_naming_a_metric_no_service_exports_is_caught(running):
    live = exported("payment-service")
    assert "payment_refunds_in_flight" not in live
    assert metric_names('sum(payment_refunds_in_flight{job="payment-service"})') - live == {"payment_refunds_in_flight"}
