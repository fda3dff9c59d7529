"""`make clean` (tools/clean.sh) removes what the repository built and nothing else: run on a
copy of the repository's scripts with build output planted in it, against a recording stand-in
for the docker client (the engine's real images are the machine's; the compose suite and the
README's figures cover the real engine)."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAKE_DOCKER = """#!/usr/bin/env bash
echo "$*" >> "$DOCKER_LOG"
case "$1 $2" in
  "info "*) exit 0 ;;
  "images --format") printf '%s\\n' shop/cart-service:local shop-offline/kafka:local rust:1.95-bookworm \\
                        postgres:16 someone/else:1 ;;
esac
exit 0
"""


def test_clean_removes_the_build_output_and_only_this_repositorys_images(tmp_path):
    repo = tmp_path / "repo"
    # contracts: compose.sh, which clean.sh sources, writes the broker's registry from them.
    for folder in ["tools", "infra/local", "infra/compose", "contracts/events", "contracts/proto"]:
        shutil.copytree(ROOT / folder, repo / folder)
    planted = [repo / "target" / "debug" / "x", repo / "cart-service" / "target" / "x", repo / ".local" / "x",
               repo / ".venv" / "x", repo / "contracts" / "node_modules" / "x", repo / ".pytest_cache" / "x",
               repo / ".schemathesis" / "x", repo / "tools" / "bench" / "__pycache__" / "x.pyc"]
    kept = [repo / "cart-service" / "src" / "main.rs", tmp_path / "users-own-target" / "x"]
    shared = tmp_path / "shared-target"
    for path in planted + kept + [shared / "x"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (shared / ".checkout").write_text("/some/other/clone\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    log = tmp_path / "docker.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DOCKER_LOG": str(log)}

    # A target folder this repository never built into is the user's own: it stays.
    run = subprocess.run(["bash", str(repo / "tools" / "clean.sh")], capture_output=True, text=True,
                         env={**env, "CARGO_TARGET_DIR": str(tmp_path / "users-own-target")})
    assert run.returncode == 0, run.stderr
    assert not any(p.exists() for p in planted), [p for p in planted if p.exists()]
    assert all(p.exists() for p in kept)
    calls = log.read_text().splitlines()
    removed = [c for c in calls if c.startswith("rmi")]
    assert removed == ["rmi -f shop/cart-service:local shop-offline/kafka:local rust:1.95-bookworm"], calls
    for project in ["shop", "shop-e2e", "shop-bench"]:
        assert any(c.startswith(f"compose -p {project} ") and "down --volumes" in c for c in calls), (project, calls)
    assert "builder prune -f --filter type=exec.cachemount" in calls

    # One that carries the claim marker was built into by a clone of this repository: it goes.
    run = subprocess.run(["bash", str(repo / "tools" / "clean.sh")], capture_output=True, text=True,
                         env={**env, "CARGO_TARGET_DIR": str(shared)})
    assert run.returncode == 0, run.stderr
    assert not shared.exists()
