"""The compose file is valid for docker-compose (no engine needed to check) and gives each
service only settings it reads."""
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, SERVICES, settings_read

COMPOSE = ROOT / "infra" / "compose" / "docker-compose.yml"
# Read by the OpenTelemetry SDK inside every service, not by its own configuration.
SDK_VARIABLES = {"OTEL_EXPORTER_OTLP_ENDPOINT"}


def test_docker_compose_config_accepts_the_file():
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is missing: make setup installs it"
    for args in ([], ["--profile", "observability"]):
        result = subprocess.run([compose, "-f", str(COMPOSE), *args, "config", "-q"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


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


def test_redis_keeps_its_data_across_a_restart_as_the_docs_say():
    # docs/RELIABILITY.md promises an append-only file; compose and infra/local ran Redis with
    # no persistence at all (issue "Checkout money invariants").
    redis = yaml.safe_load(COMPOSE.read_text())["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"]), "the append-only file outlives the container"
    local = (ROOT / "infra" / "local" / "start.sh").read_text()
    assert "--appendonly yes" in local and "--appendonly no" not in local
