"""`.ci/run` holds a lock on the shared target folder (tools/ci-lock.sh). A daemon started during
a run (dockerd, by the compose suite) once inherited the lock's descriptor and held it after the
run ended, so the next run waited forever."""

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lock_is_free(lock: Path) -> bool:
    return subprocess.run(["flock", "--nonblock", str(lock), "true"]).returncode == 0


def test_the_lock_ends_with_the_run_not_with_what_it_started(tmp_path: Path) -> None:
    lock, pid_file = tmp_path / "lock", tmp_path / "daemon.pid"
    # The "run" starts a daemon that outlives it, as the compose suite starts dockerd.
    subprocess.run(
        [str(ROOT / "tools/ci-lock.sh"), str(lock), "bash", "-c", f"setsid sleep 60 >/dev/null 2>&1 & echo $! > {pid_file}"],
        check=True,
        timeout=30,
    )
    daemon = int(pid_file.read_text())
    try:
        assert Path(f"/proc/{daemon}").exists(), "the daemon outlived the run"
        assert lock_is_free(lock), "the daemon still holds the run's lock"
    finally:
        subprocess.run(["kill", str(daemon)])


def test_a_second_run_waits_for_the_first(tmp_path: Path) -> None:
    lock, order = tmp_path / "lock", tmp_path / "order"
    first = subprocess.Popen([str(ROOT / "tools/ci-lock.sh"), str(lock), "bash", "-c", f"sleep 1; echo first >> {order}"])
    time.sleep(0.3)
    subprocess.run([str(ROOT / "tools/ci-lock.sh"), str(lock), "bash", "-c", f"echo second >> {order}"], check=True, timeout=30)
    first.wait(timeout=30)
    assert order.read_text().split() == ["first", "second"]
