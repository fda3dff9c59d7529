"""The compose file is valid for docker-compose (no engine needed to check) and gives each
service only settings it reads."""
import base64
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, SERVICES, config_source, loopback_defaults, settings_read

COMPOSE = ROOT / "infra" / "compose" / "docker-compose.yml"
# Read by the OpenTelemetry SDK inside every service, not by its own configuration.
SDK_VARIABLES = {"OTEL_EXPORTER_OTLP_ENDPOINT"}


def test_docker_compose_config_accepts_the_file():
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is missing: make setup installs it"
    # compose.sh exports auth's generated key; without it the file refuses to start auth.
    env = {**os.environ, "SHOP_AUTH_JWT_SIGNING_KEYS": "check:unused", "SHOP_PROXY_CONFIG": "/dev/null",
           "SHOP_PKI_DIR": "/nonexistent/pki", "SHOP_SCHEMA_DIR": "/nonexistent/schema"}
    for args in ([], ["--profile", "observability"]):
        result = subprocess.run([compose, "-f", str(COMPOSE), *args, "config", "-q"], capture_output=True, text=True,
                                env=env)
        assert result.returncode == 0, result.stderr
    env.pop("SHOP_AUTH_JWT_SIGNING_KEYS")
    result = subprocess.run([compose, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "SHOP_AUTH_JWT_SIGNING_KEYS" in result.stderr, result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_built_from_its_dockerfile_and_gets_only_settings_it_reads(service):
    spec = yaml.safe_load(COMPOSE.read_text())["services"][service]
    assert spec["build"]["dockerfile"] == f"{service}/Dockerfile"
    assert (COMPOSE.parent / spec["build"]["context"]).resolve() == ROOT
    unknown = set(spec["environment"]) - settings_read(service) - SDK_VARIABLES
    assert not unknown, f"{service} would refuse {unknown} at start-up"
    assert spec["depends_on"]["init-topics"]["condition"] == "service_completed_successfully"


def test_every_store_and_the_broker_have_health_checks_the_services_wait_for():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for store in ["postgres", "mariadb", "redis", "kafka"]:
        assert services[store]["healthcheck"]["test"]
    for service, store in [("auth-service", "postgres"), ("product-service", "postgres"),
                           ("cart-service", "redis"), ("payment-service", "mariadb")]:
        assert services[service]["depends_on"][store]["condition"] == "service_healthy"
    assert services["jaeger"]["profiles"] == ["observability"]
    assert services["otel-collector"]["profiles"] == ["observability"]


def test_the_broker_runs_with_the_schema_registry_generated_from_contracts():
    # ADR 22: compose.sh writes the registry (infra/local/registry.py) and the broker reads it
    # from its working folder, the data volume, where it is mounted read-only.
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["kafka"]["image"].startswith("shop/broker:")
    assert "${SHOP_SCHEMA_DIR:?source infra/compose/compose.sh, which writes it}:/var/lib/kafka/data/schema:ro" \
        in services["kafka"]["volumes"]
    dockerfile = (ROOT / "infra" / "compose" / "broker.Dockerfile").read_text()
    assert "WORKDIR /var/lib/kafka/data\n" in dockerfile
    assert '"--schema-registry", "file://./schema"]' in dockerfile
    assert "SHOP_SCHEMA_DIR=" in (ROOT / "infra" / "compose" / "compose.sh").read_text()


def test_redis_keeps_its_data_across_a_restart_as_the_docs_say():
    # docs/RELIABILITY.md promises an append-only file; compose and infra/local ran Redis with
    # no persistence at all (issue "Checkout money invariants").
    redis = yaml.safe_load(COMPOSE.read_text())["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"]), "the append-only file outlives the container"
    local = (ROOT / "infra" / "local" / "start.sh").read_text()
    assert "--appendonly yes" in local and "--appendonly no" not in local


@pytest.mark.parametrize("service", SERVICES)
def test_every_remote_dependency_whose_default_is_this_machine_is_set_to_a_compose_name(service):
    # cart ran in compose with no CART_AUTH_URL and fetched its JWKS from its own loopback: 503 on
    # every authenticated route, unseen by tests that ran the services with their defaults.
    environment = yaml.safe_load(COMPOSE.read_text())["services"][service]["environment"]
    required = loopback_defaults(service)
    assert required, "the configuration parser found no remote dependency: it is broken"
    for key in sorted(required):
        assert key in environment, f"{service}: {key} is left at its loopback default"
        assert "127.0.0.1" not in environment[key] and "localhost" not in environment[key], (key, environment[key])


def test_the_topic_job_creates_exactly_the_catalogues_topics():
    job = subprocess.run(["sh", str(ROOT / "infra" / "compose" / "init" / "topics.sh"), "list"], capture_output=True,
                         text=True, check=True, env={**os.environ, "CATALOGUE": str(ROOT / "contracts" / "events" / "topics.yaml")})
    sys.path.insert(0, str(ROOT / "infra" / "local"))
    from topics import topics
    assert [tuple(line.split()) for line in job.stdout.splitlines()] == [(n, str(p)) for n, p in topics()]
    init = yaml.safe_load(COMPOSE.read_text())["services"]["init-topics"]
    assert "../../contracts/events/topics.yaml:/etc/shop/topics.yaml:ro" in init["volumes"]


def test_compose_signs_tokens_with_a_key_generated_for_this_checkout(tmp_path):
    """The repository's development key is public: compose, which publishes auth's port, must
    never sign with it. compose.sh generates a key on first use and keeps it."""
    auth_env = yaml.safe_load(COMPOSE.read_text())["services"]["auth-service"]["environment"]
    assert auth_env["AUTH_JWT_SIGNING_KEYS"].startswith("${SHOP_AUTH_JWT_SIGNING_KEYS:?"), auth_env
    key_file = tmp_path / "keys"
    read = ["bash", "-c", f'source "{ROOT}/infra/compose/compose.sh"; printf %s "$SHOP_AUTH_JWT_SIGNING_KEYS"']
    env = {**os.environ, "SHOP_AUTH_KEY_FILE": str(key_file), "SHOP_PKI_DIR": str(tmp_path / "pki")}
    first = subprocess.run(read, env=env, capture_output=True, text=True, check=True).stdout
    kid, seed = first.split(":")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", kid), kid
    assert len(base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4))) == 32
    assert key_file.stat().st_mode & 0o077 == 0, "the key file is readable by others"
    assert subprocess.run(read, env=env, capture_output=True, text=True, check=True).stdout == first, "not kept"
    local = re.search(r'LOCAL_JWT_KEYS: &str = "[^:]+:([^"]+)"', config_source("auth-service")).group(1)
    assert seed != local


def compose_proxy_config(tmp_path) -> str:
    """The entry proxy's configuration as compose.sh writes it for `make up`."""
    path = tmp_path / "haproxy.cfg"
    subprocess.run(["bash", "-c", f'source "{ROOT}/infra/compose/compose.sh"'], check=True, capture_output=True,
                   env={**os.environ, "SHOP_PROXY_CONFIG": str(path), "SHOP_AUTH_KEY_FILE": str(tmp_path / "keys"),
                        "SHOP_PKI_DIR": str(tmp_path / "pki")})
    return path.read_text()


def test_only_the_entry_proxy_publishes_ports_and_only_on_loopback():
    """A service that published its own host port could not run as several containers
    (`make up SCALE=...`): the ports would collide."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    published = {name: spec["ports"] for name, spec in services.items() if spec.get("ports")}
    assert not set(published) & set(SERVICES), published
    assert published["proxy"], "the entry is published"
    assert all(str(port).startswith("127.0.0.1:") for ports in published.values() for port in ports), published


def test_the_entry_routes_exactly_the_ingress_paths_to_the_same_services(tmp_path):
    ingress = yaml.safe_load((ROOT / "infra" / "k8s" / "ingress.yaml").read_text())
    wanted = set()
    for rule in ingress["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            service = p["backend"]["service"]["name"]
            wanted.add(("path", p["path"], service))
            if p["pathType"] == "Prefix":  # the path itself and everything under it
                wanted.add(("path_beg", p["path"] + "/", service))
    config = compose_proxy_config(tmp_path)
    acls: dict[str, set] = {}
    for name, matcher, paths in re.findall(r"^\s*acl (\w+_public) (path|path_beg) (.+)$", config, re.M):
        acls.setdefault(name, set()).update((matcher, path) for path in paths.split())
    routed = set()
    for backend, acl in re.findall(r"^\s*use_backend (\w+) if (\w+)$", config, re.M):
        routed |= {(matcher, path, f"{backend}-service") for matcher, path in acls[acl]}
    assert routed == wanted
    # Every service's replicas are found through Docker's DNS, checked on /readyz.
    for service in SERVICES:
        assert re.search(rf"server-template {service.split('-')[0]}- \d+ {service}:\d+ check resolvers docker", config)
    assert config.count("option httpchk GET /readyz") == len(SERVICES)


def test_auth_trusts_the_client_address_from_the_entry_proxy_only():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    proxy_ip = services["proxy"]["networks"]["default"]["ipv4_address"]
    assert services["auth-service"]["environment"]["AUTH_TRUSTED_PROXIES"] == proxy_ip
    subnet = yaml.safe_load(COMPOSE.read_text())["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert proxy_ip.split("}")[0] == subnet.split("}")[0], "the proxy's address is in the project's subnet"


def test_internal_grpc_is_mutual_tls_with_each_services_certificate_from_compose_pki(tmp_path):
    """Every service reads its workload certificate from /etc/shop/tls, mounted
    read-only from the folder of the CA compose.sh makes; cart and payment dial gRPC over https."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for service in ["auth-service", "product-service", "cart-service", "payment-service"]:
        mounts = services[service].get("volumes", [])
        wanted = f"${{SHOP_PKI_DIR:?source infra/compose/compose.sh, which makes it}}/{service}:/etc/shop/tls:ro"
        assert wanted in mounts, (service, mounts)
        for key, value in services[service]["environment"].items():
            if key.endswith("_GRPC_URL"):
                assert value.startswith("https://"), (service, key, value)
    pki = tmp_path / "pki"
    subprocess.run(["bash", "-c", f'source "{ROOT}/infra/compose/compose.sh"'], check=True, capture_output=True,
                   env={**os.environ, "SHOP_PROXY_CONFIG": str(tmp_path / "haproxy.cfg"),
                        "SHOP_AUTH_KEY_FILE": str(tmp_path / "keys"), "SHOP_PKI_DIR": str(pki)})
    for service in ["product-service", "cart-service", "payment-service"]:
        for name in ["tls.crt", "tls.key", "ca.crt"]:
            # The containers run as user 10001 and read the key from a read-only mount.
            assert (pki / service / name).stat().st_mode & 0o004, f"{service}/{name} is not readable"
        san = subprocess.run(["openssl", "x509", "-in", str(pki / service / "tls.crt"), "-noout", "-ext",
                              "subjectAltName"], check=True, capture_output=True, text=True).stdout
        assert f"DNS:{service}" in san, san
