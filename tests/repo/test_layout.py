"""Polyrepo discipline: four standalone crates (and the load generator) sharing only contracts/, with dependency
versions aligned across their lockfiles so one shared target folder compiles each once."""
import pathlib
import re
import tomllib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVICES = ["auth-service", "product-service", "cart-service", "payment-service"]
# Crates beside the services (not deployed, so no Dockerfile), held to the same discipline.
TOOLS = ["loadgen", "auditor"]
CRATES = SERVICES + TOOLS


def lock_versions(service):
    lock = tomllib.loads((ROOT / service / "Cargo.lock").read_text())
    versions = {}
    for package in lock["package"]:
        versions.setdefault(package["name"], set()).add(package["version"])
    return versions


@pytest.mark.parametrize("service", CRATES)
def test_each_crate_is_standalone(service):
    folder = ROOT / service
    files = ["Cargo.toml", "Cargo.lock", "Makefile", "README.md", "CHANGELOG.md", "build.rs"]
    for name in files + (["Dockerfile"] if service in SERVICES else []):
        assert (folder / name).is_file(), f"{service}/{name}"
    manifest = tomllib.loads((folder / "Cargo.toml").read_text())
    assert "workspace" not in manifest
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["package"]["version"])
    deps = {**manifest.get("dependencies", {}), **manifest.get("dev-dependencies", {}), **manifest.get("build-dependencies", {})}
    paths = [name for name, spec in deps.items() if isinstance(spec, dict) and "path" in spec]
    assert paths == [], f"{service} has path dependencies: {paths}"


def test_no_workspace_ties_the_services():
    assert not (ROOT / "Cargo.toml").exists()


def compatibility_range(version):
    """Cargo's semver-compatible range of a version: "1" for 1.4.2, "0.14" for 0.14.9."""
    major, minor, *_ = re.split(r"[.+-]", version)
    return major if major != "0" else f"0.{minor}"


def misaligned(locks):
    """Packages that two lockfiles resolved to different versions within one compatible range."""
    drift = []
    for name in sorted(set().union(*(lock.keys() for lock in locks.values()))):
        by_range = {}
        for service, lock in locks.items():
            for version in lock.get(name, ()):
                by_range.setdefault(compatibility_range(version), {})[service] = version
        for picks in by_range.values():
            if len(set(picks.values())) > 1:
                drift.append(f"{name}: " + ", ".join(f"{s}={v}" for s, v in sorted(picks.items())))
    return drift


def test_shared_dependencies_resolve_to_the_same_versions_in_every_lockfile():
    drift = misaligned({s: lock_versions(s) for s in CRATES})
    assert drift == [], "align with `cargo update -p NAME --precise VERSION`:\n" + "\n".join(drift)


def test_the_alignment_check_catches_drift():
    locks = {"a": {"tokio": {"1.50.0"}, "winnow": {"0.7.15", "1.0.5"}}, "b": {"tokio": {"1.48.0"}, "winnow": {"1.0.5"}}}
    assert misaligned(locks) == ["tokio: a=1.50.0, b=1.48.0"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_path_filtered_workflow(service):
    short = service.removesuffix("-service")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / f"{short}.yml").read_text())
    # YAML reads the key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    for event in ["push", "pull_request"]:
        paths = triggers[event]["paths"]
        assert f"{service}/**" in paths and "contracts/**" in paths, f"{short}.yml {event}"
    steps = " ".join(str(step.get("run", "")) for job in workflow["jobs"].values() for step in job["steps"])
    assert f"make -C {service} test" in steps and f"make -C {service} lint" in steps


def test_a_workflow_runs_the_repository_and_deployment_checks_on_every_change():
    """No service's workflow runs tests/repo or tests/deploy (each is path-filtered to its
    service): the repository's own workflow does, unfiltered."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "repository.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))
    assert "paths" not in (triggers["push"] or {}) and "paths" not in (triggers["pull_request"] or {})
    steps = " ".join(str(step.get("run", "")) for job in workflow["jobs"].values() for step in job["steps"])
    assert "make repo-check" in steps and "make deploy-check" in steps
