"""`make test`'s phases (tools/test/phase.sh): a phase that hangs is stopped at its limit, with
everything it started, and named in the table; a failing phase keeps its exit status."""

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_phases(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    script = f"""set -uo pipefail
table={tmp_path}/table.md
source {ROOT}/tools/test/phase.sh
{body}
"""
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child not yet reaped by its (also killed) parent is a zombie: gone for our purpose.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1].split()[0] != "Z"


def test_a_hung_phase_is_stopped_with_its_children_and_named(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    result = run_phases(
        tmp_path,
        f"""phase quick 30 true
phase hangs 2 bash -c 'sleep 300 & echo $! > {pid_file}; wait'
phase never-reached 30 true""",
    )
    assert result.returncode == 1, result
    assert "phase 'hangs' did not end within its 2 s" in result.stderr
    table = (tmp_path / "table.md").read_text()
    assert "| quick |" in table and "| ok |" in table
    assert "| hangs |" in table and "FAILED: no end within 2 s" in table
    assert "never-reached" not in table
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(grandchild), "the hung phase's child outlived its phase"


def test_a_failing_phase_keeps_its_status_and_stops_the_run(tmp_path: Path) -> None:
    result = run_phases(tmp_path, "phase fails 30 bash -c 'exit 3'\nphase after 30 true")
    assert result.returncode == 3
    table = (tmp_path / "table.md").read_text()
    assert "| fails |" in table and "FAILED (3)" in table and "| after |" not in table
