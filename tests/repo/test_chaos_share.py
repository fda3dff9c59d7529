"""The scale-up fault's check (tools/chaos/chaos.py `joined`): a new replica must be in cart's
rotation within 30 s, a tenth of its service's calls since the scale-up and three at least."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "chaos"))
from chaos import joined, since_scale_up  # noqa: E402


def test_a_replica_that_joined_late_and_took_its_turn_passes():
    # The CI run of 2026-12-07: payment's third replica served 14 of 51 calls.
    result = since_scale_up([100, 80, 0], [123, 94, 14])
    assert result == {"calls": 14, "of": 51, "share": 0.27}
    assert joined(result)


def test_a_replica_left_out_of_the_rotation_fails():
    assert not joined(since_scale_up([0, 0, 0], [30, 30, 0]))


def test_a_trickle_fails_as_surely_as_nothing():
    assert not joined(since_scale_up([0, 0, 0], [28, 29, 2])), "two calls"
    assert not joined(since_scale_up([0, 0, 0], [300, 300, 40])), "under a tenth of many calls"


def test_no_calls_at_all_fails():
    assert not joined(since_scale_up([5, 5, 0], [5, 5, 0]))
