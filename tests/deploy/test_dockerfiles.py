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


@pytest.mark.parametrize("service", SERVICES)
def test_no_instruction_needs_buildkit(service):
    """Debian's docker has no buildx: the classic builder must build each file, so no
    `RUN --mount`, no heredocs, no `# syntax=` front-end to fetch from Docker Hub."""
    text = (ROOT / service / "Dockerfile").read_text()
    assert "--mount" not in text and "<<" not in text and "# syntax=" not in text


def test_dockerignore_keeps_build_output_out_of_the_context():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/target" in ignored and ".git" in ignored


@pytest.mark.parametrize("service", SERVICES)
def test_the_dependency_layer_has_every_target_the_manifest_declares(service):
    """cargo refuses a manifest whose declared targets are missing, so the dependency layer
    (the first `cargo build`, before the sources are copied) needs the bench files too."""
    steps = instructions(service)
    first_build = next(i for i, (op, arg) in enumerate(steps) if op == "RUN" and "cargo build" in arg)
    copied = " ".join(arg for op, arg in steps[:first_build] if op == "COPY")
    manifest = (ROOT / service / "Cargo.toml").read_text()
    for bench in re.findall(r'\[\[bench\]\]\s*\nname = "([^"]+)"', manifest):
        assert (ROOT / service / "benches" / f"{bench}.rs").exists()
        assert f"{service}/benches" in copied, f"benches/{bench}.rs is not in the layer before the first cargo build"
