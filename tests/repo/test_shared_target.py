"""One target folder for several clones (.ci/run's CARGO_TARGET_DIR) must never hand a clone
another clone's build. Cargo hashes a path crate by its path inside its own workspace, so the
same crate in two clones is one unit to it, judged fresh by mtimes: a clone whose files are older
than the other clone's last build got that build. tools/claim-target.sh touches a clone's
files when the folder was last built from another one. Shown here on a one-file crate in two
throwaway "clones" that print different words."""
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def clone(base: Path, name: str, word: str) -> Path:
    repo = base / name
    (repo / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools" / "claim-target.sh", repo / "tools" / "claim-target.sh")
    (repo / "contracts").mkdir()
    crate = repo / "tiny"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "tiny"\nversion = "0.1.0"\nedition = "2021"\n\n[workspace]\n')
    (crate / "src" / "main.rs").write_text(f'fn main() {{ println!("{word}"); }}\n')
    return repo


def build_and_run(repo: Path, target: Path, claim: bool) -> str:
    env = {**os.environ, "CARGO_TARGET_DIR": str(target), "CARGO_INCREMENTAL": "0"}
    if claim:
        subprocess.run(["bash", str(repo / "tools" / "claim-target.sh")], env=env, check=True, capture_output=True)
    subprocess.run(["cargo", "build", "-q", "--offline"], cwd=repo / "tiny", env=env, check=True, capture_output=True)
    return subprocess.run([str(target / "debug" / "tiny")], capture_output=True, text=True, check=True).stdout.strip()


def test_a_clone_older_than_the_shared_folders_last_build_gets_its_own_code(tmp_path):
    target = tmp_path / "shared-target"
    first, second = clone(tmp_path, "first", "first"), clone(tmp_path, "second", "second")
    old = time.time() - 3600
    for path in first.rglob("*"):
        os.utime(path, (old, old))  # cloned an hour before the second clone built

    assert build_and_run(second, target, claim=False) == "second"
    # The hazard is real (without it this test would prove nothing): cargo calls the first
    # clone's crate fresh and hands it the second clone's binary.
    assert build_and_run(first, target, claim=False) == "second"
    # With the claim, each clone gets its own code, switching back and forth.
    assert build_and_run(first, target, claim=True) == "first"
    assert build_and_run(second, target, claim=True) == "second"
    assert build_and_run(first, target, claim=True) == "first"
