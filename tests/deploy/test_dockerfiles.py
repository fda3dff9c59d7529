"""Each Dockerfile: a pinned build image, a runtime FROM scratch, a non-root numeric user, the
chart's ports exposed, the crate's binary as entrypoint and health probe. (tests/compose builds
and runs them on a real engine; these checks keep the file's shape honest without one.)"""
import json
import re

import pytest
import yaml

from conftest import ROOT, SERVICES, binary_name


def instructions(service: str) -> list[tuple[str, str]]:
    text = (ROOT / service / "Dockerfile").read_text().replace("\\\n", " ")
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^([A-Za-z]+)\s+(.*)$", text, re.M)]


@pytest.mark.parametrize("service", SERVICES)
def test_base_images_are_pinned_by_tag(service):
    images = [arg.split()[0] for op, arg in instructions(service) if op == "FROM"]
    assert len(images) >= 2, "multi-stage: a build stage and a runtime"
    for image in images[:-1]:
        assert re.match(r"^[\w./-]+:[\w.-]+$", image) and not image.endswith(":latest"), image
    assert images[-1] == "scratch", "the runtime holds the binary and its libraries only: no shell, no package manager"


@pytest.mark.parametrize("service", SERVICES)
def test_the_runtime_runs_as_a_non_root_numeric_user(service):
    users = [arg for op, arg in instructions(service) if op == "USER"]
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


@pytest.mark.parametrize("service", SERVICES)
def test_exposed_ports_are_the_charts_container_ports(service):
    exposed = {int(p) for op, arg in instructions(service) if op == "EXPOSE" for p in arg.split()}
    values = yaml.safe_load((ROOT / service / "chart" / "values.yaml").read_text())
    assert exposed == set(values["ports"].values())


@pytest.mark.parametrize("service", SERVICES)
def test_the_entrypoint_is_the_crates_binary(service):
    binary = f"/usr/local/bin/{binary_name(service)}"
    entrypoints = [json.loads(arg) for op, arg in instructions(service) if op == "ENTRYPOINT"]
    assert entrypoints and entrypoints[-1] == [binary]
    copied = [arg for op, arg in instructions(service) if op == "COPY" and "--from=build" in arg]
    assert copied and copied[-1].split()[-2:] == ["/rootfs", "/"]
    assert any(op == "RUN" and f"-o /rootfs{binary} " in arg for op, arg in instructions(service))
    probe = [arg for op, arg in instructions(service) if op == "HEALTHCHECK"]
    assert probe and json.loads(probe[-1].split("CMD", 1)[1]) == [binary, "healthcheck"]


CACHE_MOUNTS = ["--mount=type=cache,id=shop-cargo-registry,target=/usr/local/cargo/registry,sharing=locked",
                "--mount=type=cache,id=shop-cargo-target,target=/cache/target,sharing=locked"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_cargo_build_shares_the_registry_and_target_caches_of_every_image(service):
    """One dependency build for the four images (ADR 16): the same cache ids in every file,
    taken in turn, and the crate built into the shared target folder."""
    builds = [arg for op, arg in instructions(service) if op == "RUN" and "cargo build" in arg]
    assert len(builds) == 1, "one cargo build, in the cached step"
    for mount in CACHE_MOUNTS:
        assert mount in builds[0].split()
    assert "CARGO_TARGET_DIR=/cache/target" in builds[0]


@pytest.mark.parametrize("service", SERVICES)
def test_the_sources_are_touched_before_the_cached_build(service):
    """cargo judges a path crate fresh by mtimes: another checkout's older files at the same
    /src path would pass for the binary already in the shared target folder."""
    build = next(arg for op, arg in instructions(service) if op == "RUN" and "cargo build" in arg)
    touch = build.index(f"find contracts/proto {service} -type f -exec touch")
    assert touch < build.index("cargo build")


@pytest.mark.parametrize("service", SERVICES)
def test_nothing_is_fetched_from_docker_hub_but_the_base_images(service):
    """No `# syntax=` front-end (BuildKit would pull it) and no heredocs (they need one)."""
    text = (ROOT / service / "Dockerfile").read_text()
    assert "<<" not in text and "# syntax=" not in text


def test_dockerignore_keeps_build_output_out_of_the_context():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/target" in ignored and ".git" in ignored


@pytest.mark.parametrize("service", SERVICES)
def test_every_target_the_manifest_declares_is_copied_before_the_build(service):
    """cargo refuses a manifest whose declared targets are missing."""
    steps = instructions(service)
    build = next(i for i, (op, arg) in enumerate(steps) if op == "RUN" and "cargo build" in arg)
    copied = " ".join(arg for op, arg in steps[:build] if op == "COPY")
    manifest = (ROOT / service / "Cargo.toml").read_text()
    assert f"{service}/src " in copied + " "
    for bench in re.findall(r'\[\[bench\]\]\s*\nname = "([^"]+)"', manifest):
        assert (ROOT / service / "benches" / f"{bench}.rs").exists()
        assert f"{service}/benches" in copied, f"benches/{bench}.rs is not copied before the cargo build"
