"""Each chart's SLO alerts (chart/alerts/rules.yaml, issue 20): Prometheus's own `promtool`
checks the rules and runs their unit tests (chart/alerts/tests.yaml: every alert quiet on
healthy series and firing on its failure); every metric the rules read is one the service
exports; and the chart ships them as a PrometheusRule, with a ServiceMonitor that gives the
`job` label the rules select, when `monitoring` is switched on."""
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, SERVICES
from promql import metric_names
from test_charts import render, the

PROMTOOL = shutil.which("promtool")
# Series Prometheus makes itself, not the service.
PROMETHEUS_OWN = {"up"}


def rules(service: str) -> dict:
    return yaml.safe_load((ROOT / service / "chart" / "alerts" / "rules.yaml").read_text())


def promtool(*args: str, cwd) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is missing: `make setup` installs Debian's prometheus package"
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True)



@pytest.mark.parametrize("service", SERVICES)
def test_promtool_checks_the_rules(service):
    checked = promtool("check", "rules", "rules.yaml", cwd=ROOT / service / "chart" / "alerts")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_unit_tests_pass_for_every_chart():
    """promtool evaluates a day of synthetic series per case: the four run side by side."""
    assert PROMTOOL, "promtool is missing: `make setup` installs Debian's prometheus package"
    runs = {service: subprocess.Popen([PROMTOOL, "test", "rules", "tests.yaml"], cwd=ROOT / service / "chart" / "alerts",
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for service in SERVICES}
    for service, run in runs.items():
        output, _ = run.communicate(timeout=600)
        assert run.returncode == 0 and "SUCCESS" in output, f"{service}:\n{output}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_alert_is_tested_firing_and_quiet(service):
    alerts = [r["alert"] for g in rules(service)["groups"] for r in g["rules"] if "alert" in r]
    tests = yaml.safe_load((ROOT / service / "chart" / "alerts" / "tests.yaml").read_text())["tests"]
    fired, quiet = set(), set()
    for test in tests:
        for case in test.get("alert_rule_test", []):
            (fired if case["exp_alerts"] else quiet).add(case["alertname"])
    assert set(alerts) <= fired, f"never seen firing: {sorted(set(alerts) - fired)}"
    assert set(alerts) <= quiet, f"never seen quiet: {sorted(set(alerts) - quiet)}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_rules_read_only_metrics_the_service_exports(service):
    sources = [ROOT / service / "src" / "metrics.rs", *sorted((ROOT / service / "src" / "metrics").glob("*.rs"))]
    exported = {name for source in sources for name in re.findall(r'"([a-z_]+)"', source.read_text())}
    recorded = {r["record"] for g in rules(service)["groups"] for r in g["rules"] if "record" in r}
    for group in rules(service)["groups"]:
        for rule in group["rules"]:
            for name in metric_names(rule["expr"]) - PROMETHEUS_OWN - recorded:
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                assert base in exported, f"{rule.get('alert') or rule.get('record')} reads {name}, not exported"


@pytest.mark.parametrize("service", SERVICES)
def test_the_chart_ships_the_rules_and_a_service_monitor_when_monitoring_is_on(service):
    assert "PrometheusRule" not in render(service) and "ServiceMonitor" not in render(service), "off by default"
    manifests = render(service, {"monitoring": {"serviceMonitor": {"enabled": True},
                                                "prometheusRule": {"enabled": True},
                                                "labels": {"release": "kube-prometheus-stack"}}})
    rule = the(manifests, "PrometheusRule")
    assert rule["spec"] == rules(service), "the PrometheusRule is the tested rules file"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    monitor = the(manifests, "ServiceMonitor")
    service_object = next(s for s in manifests["Service"] if s["spec"].get("clusterIP") != "None")
    assert all(service_object["metadata"]["labels"].get(k) == v
               for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    # The rules select job="<service>": the Service's app.kubernetes.io/name is the chart's name.
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert service_object["metadata"]["labels"]["app.kubernetes.io/name"] == service
    assert all(f'job="{service}"' in r["expr"] for g in rules(service)["groups"] for r in g["rules"]
               if "job=" in r["expr"])
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    policy = next(p for p in manifests["NetworkPolicy"] if p["metadata"]["name"] == service)
    scrape = [r for r in policy["spec"]["ingress"]
              if r["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]]
    assert scrape and scrape[0]["ports"][0]["port"] == service_object["spec"]["ports"][0]["port"]


DASHBOARDS = {service: ROOT / service / "chart" / "dashboards" / f"{service}.json" for service in SERVICES}


def dashboard_queries(service: str) -> list[str]:
    import json
    board = json.loads(DASHBOARDS[service].read_text())
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


@pytest.mark.parametrize("service", SERVICES)
def test_the_dashboard_reads_only_recorded_rules_of_the_chart_and_ships_as_a_configmap(service):
    import json
    recorded = {r["record"] for g in rules(service)["groups"] for r in g["rules"] if "record" in r}
    for expr in dashboard_queries(service):
        for name in metric_names(expr):
            if ":" in name:
                assert name in recorded, f"{name} is no recording rule of {service}'s chart"
    manifests = render(service, {"monitoring": {"dashboard": {"enabled": True}}})
    config = next(c for c in manifests["ConfigMap"] if c["metadata"]["name"] == f"{service}-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config["data"][f"{service}.json"]) == json.loads(DASHBOARDS[service].read_text())
