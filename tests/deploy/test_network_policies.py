"""The network is closed by default and each chart opens only what its pods call: every pod is
selected by a NetworkPolicy, no egress rule reaches private ranges or the cloud metadata
endpoint wholesale, the namespace denies by default, and the public Ingress does not publish
token introspection (issue 22, items 6b and 9)."""
import ipaddress
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import helm_python
import pytest
import yaml

from conftest import PREFIX, ROOT, SERVICES, http_routes, load_all, pod_templates, selects, settings_read, store_port
from test_charts import KUBERNETES_VERSIONS, production, render

K8S = ROOT / "infra" / "k8s"
VALUES = ["defaults", "production"]
WITH_MIGRATIONS = [s for s in SERVICES if PREFIX[s] + "DATABASE_URL" in settings_read(s)]
# Whole ranges an egress rule may not reach by a broad block: the cluster, its databases, and
# the link-local range that holds the cloud metadata endpoint.
PRIVATE = [ipaddress.ip_network(n) for n in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]]
METADATA = ipaddress.ip_address("169.254.169.254")


def rendered(service: str, values: str) -> dict[str, list[dict]]:
    return render(service, production(service) if values == "production" else None)


def policies_selecting(manifests: dict, labels: dict) -> list[dict]:
    return [p for p in manifests.get("NetworkPolicy", []) if selects(p["spec"]["podSelector"], labels)]


def infra_docs() -> list[dict]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in load_all(path.read_text())]


def rules(manifests: dict, direction: str):
    for policy in manifests.get("NetworkPolicy", []):
        for rule in policy["spec"].get(direction) or []:
            yield policy["metadata"]["name"], rule


def ports(rule: dict) -> set[int]:
    return {p["port"] for p in rule.get("ports") or []}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("values", VALUES)
def test_every_pod_is_selected_by_a_network_policy_in_both_directions(service, values):
    manifests = rendered(service, values)
    made = pod_templates([doc for docs in manifests.values() for doc in docs])
    assert any(obj["kind"] == "Deployment" for obj, _ in made)
    for obj, template in made:
        labels = template["metadata"]["labels"]
        selecting = policies_selecting(manifests, labels)
        assert selecting, f"{obj['kind']} {obj['metadata']['name']} ({labels}) is selected by no NetworkPolicy"
        types = {t for p in selecting for t in p["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}, (obj["metadata"]["name"], types)


@pytest.mark.parametrize("service", WITH_MIGRATIONS)
@pytest.mark.parametrize("values", VALUES)
def test_the_migrate_job_reaches_only_dns_and_its_database_and_takes_no_traffic(service, values):
    manifests = rendered(service, values)
    job = manifests["Job"][0]
    selecting = policies_selecting(manifests, job["spec"]["template"]["metadata"]["labels"])
    assert selecting
    assert not [r for p in selecting for r in p["spec"].get("ingress") or []], "the Job serves nothing"
    allowed = {port for p in selecting for r in p["spec"].get("egress") or [] for port in ports(r)}
    assert allowed <= {53, store_port(service)}, allowed
    if values == "production":
        assert store_port(service) in allowed
    # The Job is a pre-install hook: its policy must be a hook created before it, or the
    # namespace's default deny leaves the Job without a network.
    job_weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    for policy in selecting:
        annotations = policy["metadata"].get("annotations", {})
        assert set(annotations.get("helm.sh/hook", "").split(",")) >= {"pre-install", "pre-upgrade"}
        assert int(annotations["helm.sh/hook-weight"]) < job_weight


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("values", VALUES)
def test_no_rule_allows_every_peer_or_every_port(service, values):
    # A rule without peers (`to`/`from` absent or empty) matches every address.
    manifests = rendered(service, values)
    for direction, peers in [("ingress", "from"), ("egress", "to")]:
        for name, rule in rules(manifests, direction):
            assert rule.get(peers), f"{name}: an {direction} rule without peers allows everyone: {rule}"
            assert ports(rule), f"{name}: an {direction} rule without ports allows all of them: {rule}"
            for peer in rule[peers]:
                for key in ("namespaceSelector", "podSelector"):
                    assert peer.get(key, {"x": 1}) != {}, f"{name}: an empty {key} selects everything: {rule}"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("values", VALUES)
def test_no_egress_ip_block_reaches_private_ranges_or_cloud_metadata(service, values):
    for name, rule in rules(rendered(service, values), "egress"):
        for peer in rule["to"]:
            if "ipBlock" not in peer:
                continue
            block = ipaddress.ip_network(peer["ipBlock"]["cidr"])
            excepted = [ipaddress.ip_network(e) for e in peer["ipBlock"].get("except") or []]
            for private in PRIVATE:
                if private.version == block.version and private.subnet_of(block):
                    assert any(private.subnet_of(e) for e in excepted if e.version == block.version), (
                        f"{name}: {block} allows all of {private} on {sorted(ports(rule))}")
            if METADATA in block:
                assert any(METADATA in e for e in excepted), f"{name}: {block} reaches {METADATA}"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("values", VALUES)
def test_egress_to_services_is_exactly_what_the_configuration_calls(service, values):
    manifests = rendered(service, values)
    config = manifests["ConfigMap"][0]["data"]
    called = set()
    for value in config.values():
        # A value may list URLs; a headless Service (`<service>-headless`) reaches that service's pods.
        for entry in value.split(","):
            if "://" in entry:
                url = urlsplit(entry.strip())
                host = (url.hostname or "").removesuffix("-headless")
                if host in SERVICES:
                    called.add((host, url.port))
    to_services = set()
    for name, rule in rules(manifests, "egress"):
        for peer in rule["to"]:
            target = (peer.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            if target in SERVICES and "namespaceSelector" not in peer:
                to_services |= {(target, port) for port in ports(rule)}
    assert to_services == called
    egress_ports = {port for _, rule in rules(manifests, "egress") for port in ports(rule)}
    brokers = config[f"{PREFIX[service]}KAFKA_BROKERS"].split(",")
    assert {int(b.rsplit(":", 1)[1]) for b in brokers} <= egress_ports
    if values == "production":
        assert store_port(service) in egress_ports


@pytest.mark.parametrize("service", SERVICES)
def test_egress_values_that_would_open_everything_are_refused_at_install(service):
    peer_both = {"ipBlock": {"cidr": "10.20.0.0/16"}, "namespaceSelector": {"matchLabels": {"a": "b"}}}
    for bad in [{"store": {"cidr": "10.0.0.0/8", "port": 5432}},  # the old shape
                {"store": {"port": 5432, "to": [{"podSelector": {"matchLabels": {}}}]}},
                {"store": {"port": 5432, "to": [{}]}},
                {"store": {"port": 5432, "to": [{"namespaceSelector": {}}]}},
                {"store": {"port": 5432, "to": [peer_both]}},
                {"kafka": {"port": 9092, "to": [{"ipBlock": {"cidr": "kafka"}}]}}]:
        with pytest.raises(helm_python.HelmError):
            render(service, {"networkPolicy": {"egress": bad}})


def test_the_namespace_denies_all_traffic_by_default():
    namespace = next(d for d in infra_docs() if d["kind"] == "Namespace")["metadata"]["name"]
    deny = [d for d in infra_docs() if d["kind"] == "NetworkPolicy" and d["metadata"].get("namespace") == namespace
            and d["spec"].get("podSelector") == {}]
    assert deny, f"no NetworkPolicy in infra/k8s selects every pod of {namespace}"
    spec = deny[0]["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert not spec.get("ingress") and not spec.get("egress"), "a default deny has no rule"
    # Applied with the namespace, as the README says.
    readme = (K8S / "README.md").read_text()
    path = next(p for p in K8S.glob("*.yaml") if deny[0] in load_all(p.read_text()))
    apply = [line for line in readme.splitlines() if line.startswith("kubectl apply") and "namespace.yaml" in line]
    assert apply and f"infra/k8s/{path.name}" in apply[0], apply


def test_the_infra_manifests_validate_strictly_against_kubernetes(tmp_path):
    path = tmp_path / "infra.yaml"
    path.write_text(yaml.safe_dump_all(infra_docs()))
    validate = Path(sys.executable).with_name("kubernetes-validate")
    for version in KUBERNETES_VERSIONS:
        result = subprocess.run([str(validate), "-k", version, "--strict", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"Kubernetes {version}:\n{result.stdout}{result.stderr}"


def reaches(path: str, path_type: str, target: str) -> bool:
    if path_type == "Exact":
        return path == target
    if path_type == "Prefix":  # element-wise: /v1/auth matches /v1/auth/introspect
        base = path.rstrip("/")
        return base == "" or target == base or target.startswith(base + "/")
    return target.startswith(path)  # ImplementationSpecific: NGINX reads it as a prefix


def test_the_public_ingress_does_not_reach_token_introspection():
    """auth has no REST introspection any more (gRPC VerifyToken, for the services'
    certificates); the Ingress must not reach it, nor any route auth adds, should one come back."""
    target = "/v1/auth/introspect"
    assert target not in http_routes("auth-service"), "REST introspection is back: is it meant to be?"
    ingresses = [d for d in infra_docs() if d["kind"] == "Ingress"]
    assert ingresses
    for ingress in ingresses:
        default = ingress["spec"].get("defaultBackend", {}).get("service", {})
        assert default.get("name") != "auth-service", "every unmatched path would reach auth"
        for rule in ingress["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                if p["backend"]["service"]["name"] == "auth-service":
                    assert not reaches(p["path"], p["pathType"], target), f"{p['path']} ({p['pathType']}) reaches {target}"
                    assert p["pathType"] == "Exact", f"{p['path']} would reach whatever auth adds under it"
