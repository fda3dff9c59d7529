"""Every chart renders with Helm's own engine under its defaults and under production-like
values, lints clean, validates strictly against Kubernetes 1.29 and 1.31, and agrees with the
service it deploys."""
import subprocess
import sys
from pathlib import Path

import helm_python
import pytest
import yaml

from conftest import (
    PREFIX, ROOT, SERVICES, binary_name, crate_version, default_port, has_subcommand, http_routes, load_all,
    loopback_defaults,
    serves_route, settings_read,
)

KUBERNETES_VERSIONS = ["1.29.0", "1.31.0"]
PRODUCTION_VALUES = {s: ROOT / "infra" / "k8s" / "values" / f"{s}.yaml" for s in SERVICES}


def render(service: str, values: dict | None = None) -> dict[str, list[dict]]:
    chart = helm_python.Chart.load(str(ROOT / service / "chart"))
    try:
        out = chart.render(values or {}, name=service, namespace="shop", is_install=True)
    finally:
        chart.close()
    by_kind: dict[str, list[dict]] = {}
    for path, text in out.items():
        if path.endswith(".yaml"):
            for doc in load_all(text):
                by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


def production(service: str) -> dict:
    return yaml.safe_load(PRODUCTION_VALUES[service].read_text())


def the(manifests: dict, kind: str) -> dict:
    assert len(manifests.get(kind, [])) == 1, f"one {kind} expected, got {manifests.get(kind)}"
    return manifests[kind][0]


def cluster_service(manifests: dict) -> dict:
    """The Service with a cluster IP (the charts may add a headless one beside it)."""
    services = [s for s in manifests.get("Service", []) if s["spec"].get("clusterIP") != "None"]
    assert len(services) == 1, f"one ClusterIP Service expected, got {services}"
    return services[0]


def container(manifests: dict) -> dict:
    return the(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("service", SERVICES)
def test_chart_version_and_app_version_equal_the_crate_version(service):
    chart = yaml.safe_load((ROOT / service / "chart" / "Chart.yaml").read_text())
    assert chart["name"] == service
    assert str(chart["version"]) == crate_version(service)
    assert str(chart["appVersion"]) == crate_version(service)


@pytest.mark.parametrize("service", SERVICES)
def test_helm_lint_finds_no_errors(service):
    result = helm_python.lint(str(ROOT / service / "chart"))
    assert result["errors"] == [], result
    assert not [m for m in result["messages"] if m["severity"] >= 3], result


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("values", ["defaults", "production"])
def test_every_manifest_validates_strictly_against_kubernetes(service, values, tmp_path):
    manifests = render(service, production(service) if values == "production" else None)
    docs = [doc for docs in manifests.values() for doc in docs]
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    validate = Path(sys.executable).with_name("kubernetes-validate")
    for version in KUBERNETES_VERSIONS:
        result = subprocess.run([str(validate), "-k", version, "--strict", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"Kubernetes {version}:\n{result.stdout}{result.stderr}"
        assert "passed" in result.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_hpa_pdb_service_and_network_policy_select_the_pods(service):
    manifests = render(service)
    deployment = the(manifests, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    hpa = the(manifests, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    assert matches(the(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"], pod_labels)
    assert matches(cluster_service(manifests)["spec"]["selector"], pod_labels)
    # Hook policies (the migrate Job's) are not the replicas' policy.
    policies = [p for p in manifests["NetworkPolicy"] if "helm.sh/hook" not in p["metadata"].get("annotations", {})]
    assert len(policies) == 1, policies
    assert matches(policies[0]["spec"]["podSelector"]["matchLabels"], pod_labels)

    without_hpa = render(service, {"autoscaling": {"enabled": False, "minReplicas": 2, "maxReplicas": 10}})
    assert "HorizontalPodAutoscaler" not in without_hpa
    assert the(without_hpa, "Deployment")["spec"]["replicas"] == 2


@pytest.mark.parametrize("service", SERVICES)
def test_probes_and_ports_match_what_the_service_serves(service):
    manifests = render(service)
    c = container(manifests)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    config = the(manifests, "ConfigMap")["data"]
    prefix = PREFIX[service]
    assert ports["http"] == default_port(service, "HTTP_PORT") == int(config[f"{prefix}HTTP_PORT"])
    if default_port(service, "GRPC_PORT"):
        assert ports["grpc"] == default_port(service, "GRPC_PORT") == int(config[f"{prefix}GRPC_PORT"])
        if reads_tls_identity(service):
            # The gRPC port is mutual TLS only: the kubelet's gRPC probe, plain text, would never pass.
            assert "grpc" not in c["startupProbe"] and c["startupProbe"]["httpGet"]["path"] == "/healthz"
        else:
            assert c["startupProbe"]["grpc"]["port"] == ports["grpc"]
    else:
        assert "grpc" not in ports
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert serves_route(service, "/readyz") and serves_route(service, "/healthz")
    service_ports = {p["name"]: p["port"] for p in cluster_service(manifests)["spec"]["ports"]}
    assert service_ports == ports
    assert config[f"{prefix}LISTEN_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("values", ["defaults", "production"])
def test_settings_given_to_the_pod_are_ones_the_service_reads(service, values):
    manifests = render(service, production(service) if values == "production" else None)
    read = settings_read(service)
    config = the(manifests, "ConfigMap")["data"]
    assert set(config) <= read, set(config) - read
    secret_env = {e["name"] for e in container(manifests)["env"]}
    assert secret_env and secret_env <= read, secret_env - read
    assert all("secretKeyRef" in e["valueFrom"] for e in container(manifests)["env"])


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("values", ["defaults", "production"])
def test_every_remote_dependency_whose_default_is_this_machine_is_given_to_the_pod(service, values):
    # cart's chart gave no CART_AUTH_URL: deployed, cart fetched JWKS from the pod's own loopback
    # and answered 503 on every authenticated route (issue 22, item 1).
    manifests = render(service, production(service) if values == "production" else None)
    config = the(manifests, "ConfigMap")["data"]
    given = set(config) | {e["name"] for e in container(manifests)["env"]}
    required = loopback_defaults(service)
    assert required, "the configuration parser found no remote dependency: it is broken"
    assert required <= given, f"left at their loopback defaults: {sorted(required - given)}"
    for key in required & set(config):
        assert "127.0.0.1" not in config[key] and "localhost" not in config[key], (key, config[key])


@pytest.mark.parametrize("service", SERVICES)
def test_the_container_runs_as_non_root_without_privileges(service):
    manifests = render(service)
    pod = the(manifests, "Deployment")["spec"]["template"]["spec"]
    context = container(manifests)["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["enableServiceLinks"] is False, "service links inject variables the service refuses"
    assert pod["automountServiceAccountToken"] is False
    shutdown = int(the(manifests, "ConfigMap")["data"][f"{PREFIX[service]}SHUTDOWN_TIMEOUT_SECS"])
    # Drain, then up to 10 s for background tasks, plus the 5 s preStop pause.
    assert pod["terminationGracePeriodSeconds"] > shutdown + 10 + 5
    resources = container(manifests)["resources"]
    assert resources["requests"] and resources["limits"]
    assert pod["topologySpreadConstraints"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_is_the_service_at_its_crate_version(service):
    assert container(render(service))["image"] == f"{service}:{crate_version(service)}"


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_run_as_a_hook_job_never_in_the_replicas(service):
    manifests = render(service)
    jobs = manifests.get("Job", [])
    if "DATABASE_URL" not in {k.removeprefix(PREFIX[service]) for k in settings_read(service)}:
        assert not jobs, "a service without a database has nothing to migrate"
        return
    job = jobs[0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    migrate = job["spec"]["template"]["spec"]["containers"][0]
    assert migrate["args"] == ["migrate"] and has_subcommand(service, "migrate")
    assert migrate["image"] == container(manifests)["image"]
    assert the(manifests, "ConfigMap")["data"][f"{PREFIX[service]}MIGRATE_ON_START"] == "false"


@pytest.mark.parametrize("service", SERVICES)
def test_a_value_of_the_wrong_type_or_an_unknown_key_is_refused_at_install(service):
    for bad in [{"ports": {"http": "eighty"}}, {"autoscaling": {"enabled": "yes"}}, {"replicas": 3},
                {"config": {"NOT_THIS_SERVICE_X": "1"}}, {"existingSecret": ""}]:
        with pytest.raises(helm_python.HelmError):
            render(service, bad)


def test_the_ingress_routes_public_paths_to_services_that_exist():
    ingress = yaml.safe_load((ROOT / "infra" / "k8s" / "ingress.yaml").read_text())
    paths = {p["path"]: p for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    backends = {path: p["backend"]["service"] for path, p in paths.items()}
    for path, service in [("/v1/products", "product-service"), ("/v1/cart", "cart-service")]:
        assert backends[path]["name"] == service and backends[path]["port"]["name"] == "http"
    # auth's public routes one by one: every REST route of auth's under /v1/auth is public (token
    # introspection is gRPC VerifyToken, for the services' certificates only).
    public_auth = {r for r in http_routes("auth-service") if r.startswith("/v1/auth/")}
    assert "/v1/auth/introspect" not in public_auth
    assert public_auth and "/.well-known/jwks.json" in http_routes("auth-service")
    for path in public_auth | {"/.well-known/jwks.json"}:
        assert paths[path]["pathType"] == "Exact", path
        assert backends[path]["name"] == "auth-service" and backends[path]["port"]["name"] == "http"
    assert set(b["name"] for b in backends.values()) <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_a_brokers_sasl_settings_reach_the_pod_with_the_password_from_the_secret(service):
    # Kafka security was not configurable at all (issue 22, item 7).
    prefix = PREFIX[service]
    sasl = {f"{prefix}KAFKA_SECURITY_PROTOCOL": "sasl_ssl", f"{prefix}KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            f"{prefix}KAFKA_SASL_USERNAME": service, f"{prefix}KAFKA_SSL_CA_LOCATION": "/etc/kafka/ca.pem"}
    assert set(sasl) | {f"{prefix}KAFKA_SASL_PASSWORD"} <= settings_read(service)
    values = production(service)
    values["config"] = {**values["config"], **sasl}
    values["secretKeys"] = {**values.get("secretKeys", {}), f"{prefix}KAFKA_SASL_PASSWORD": "kafka-sasl-password"}
    manifests = render(service, values)
    config = the(manifests, "ConfigMap")["data"]
    assert {k: config[k] for k in sasl} == sasl
    password = next(e for e in container(manifests)["env"] if e["name"] == f"{prefix}KAFKA_SASL_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"]["key"] == "kafka-sasl-password"
    assert f"{prefix}KAFKA_SASL_PASSWORD" not in config, "a password in a ConfigMap"


# The gRPC servers cart balances its calls over: each lists its replicas by a headless Service.
HEADLESS = ["auth-service", "product-service", "payment-service"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_headless_service_lists_the_grpc_replicas_of_auth_product_and_payment(service):
    manifests = render(service)
    headless = [s for s in manifests["Service"] if s["spec"].get("clusterIP") == "None"]
    if service not in HEADLESS:
        assert headless == []
        return
    assert len(headless) == 1, headless
    pod_labels = the(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert headless[0]["metadata"]["name"] == f"{service}-headless"
    assert matches(headless[0]["spec"]["selector"], pod_labels)
    assert [(p["name"], p["port"], p["targetPort"]) for p in headless[0]["spec"]["ports"]] == \
        [("grpc", default_port(service, "GRPC_PORT"), "grpc")]



@pytest.mark.parametrize("values", ["chart", "infra/k8s"])
def test_cart_calls_auth_product_and_payment_through_their_headless_services(values):
    """A ClusterIP name would give cart one connection, so one pod, per service."""
    overrides = yaml.safe_load((ROOT / "infra/k8s/values/cart-service.yaml").read_text()) if values != "chart" else None
    config = the(render("cart-service", overrides), "ConfigMap")["data"]
    for service, key in [("product-service", "CART_PRODUCT_GRPC_URL"), ("payment-service", "CART_PAYMENT_GRPC_URL"),
                         ("auth-service", "CART_AUTH_GRPC_URL")]:
        headless = next(s for s in render(service)["Service"] if s["spec"].get("clusterIP") == "None")
        port = headless["spec"]["ports"][0]["port"]
        assert config[key] == f"https://{headless['metadata']['name']}:{port}", config[key]


# Internal gRPC is mutual TLS: auth, product and payment serve it; cart, product and payment
# (all three ask auth's VerifyToken) present their workload certificate. Every service has a
# workload identity.
MUTUAL_TLS = ["auth-service", "product-service", "cart-service", "payment-service"]
# The services that call another's gRPC port.
GRPC_CALLERS = ["cart-service", "product-service", "payment-service"]
TLS_DIR = "/etc/shop/tls"


def reads_tls_identity(service: str) -> bool:
    return f"{PREFIX[service]}TLS_DIR" in settings_read(service)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("values", ["defaults", "production"])
def test_the_workload_tls_secret_is_mounted_whole_where_the_service_reads_it(service, values):
    assert reads_tls_identity(service) == (service in MUTUAL_TLS)
    base = production(service) if values == "production" else {}
    manifests = render(service, base or None)
    pod = the(manifests, "Deployment")["spec"]["template"]["spec"]
    c = container(manifests)
    config = the(manifests, "ConfigMap")["data"]
    mounts = [m for m in c.get("volumeMounts", []) if m["mountPath"].rstrip("/") == TLS_DIR]
    assert len(mounts) == 1, c.get("volumeMounts")
    mount = mounts[0]
    # A subPath mount is a copy taken at start: a renewed certificate would never reach the service.
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert mount["readOnly"] is True
    fullname = the(manifests, "Deployment")["metadata"]["name"]

    def secret(pod: dict) -> dict:
        return next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]

    assert secret(pod)["secretName"] == f"{fullname}-tls"
    # Files are root's, group fsGroup: readable by the non-root user through that group, by no one else.
    mode = secret(pod)["defaultMode"]
    assert mode & 0o040 and not mode & 0o222 and not mode & 0o007, oct(mode)
    assert pod["securityContext"]["fsGroup"] == c["securityContext"]["runAsGroup"]
    assert config[f"{PREFIX[service]}TLS_DIR"] == TLS_DIR

    overridden = render(service, {**base, "tls": {"secretName": "shop-workload-tls"}})
    assert secret(the(overridden, "Deployment")["spec"]["template"]["spec"])["secretName"] == "shop-workload-tls"

    # Every gRPC address the service calls is https:// (production refuses http://).
    urls = {k for k in settings_read(service) if k.endswith("_GRPC_URL")}
    assert bool(urls) == (service in GRPC_CALLERS)
    for key in urls:
        targets = config[key].split(",")
        assert all(t.strip().startswith("https://") for t in targets), (key, config[key])


def scratch_programs(service: str) -> set[str]:
    """What a container of the service's image can run: its final stage is FROM scratch with
    one binary copied in, so that binary is all (asserted against the Dockerfile)."""
    final = (ROOT / service / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    assert final.startswith("scratch"), "the runtime stage is FROM scratch"
    return {f"/usr/local/bin/{binary_name(service)}"}


@pytest.mark.parametrize("service", SERVICES)
def test_no_hook_probe_or_command_runs_a_program_the_image_lacks(service):
    """The preStop hook ran `sleep`, which the scratch image does not have: the hook failed and
    the pod got SIGTERM with no pause while endpoints still sent it traffic."""
    programs = scratch_programs(service)
    for manifests in (render(service), render(service, production(service))):
        pods = [w["spec"]["template"]["spec"] for kind in ("Deployment", "Job") for w in manifests.get(kind, [])]
        containers = [c for pod in pods for c in pod["containers"] + pod.get("initContainers", [])]
        assert containers
        for c in containers:
            commands = [hook["exec"]["command"] for hook in c.get("lifecycle", {}).values() if "exec" in hook]
            commands += [c[p]["exec"]["command"] for p in ("startupProbe", "readinessProbe", "livenessProbe")
                         if "exec" in c.get(p, {})]
            if "command" in c:
                commands.append(c["command"])
            for command in commands:
                assert command[0] in programs, f"{c['name']} runs {command}: the image has only {programs}"
                assert len(command) < 2 or has_subcommand(service, command[1]), command
        pre_stop = container(manifests)["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[1:] == ["sleep", "5"], "the pause before SIGTERM is still there"
