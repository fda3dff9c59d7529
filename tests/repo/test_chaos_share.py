"""The scale-up fault's share check (tools/chaos/chaos.py window_share): a new replica is judged
on the calls it takes now, not on the seconds before cart's channel had connected to it."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "chaos"))
from chaos import WINDOW_CALLS, window_share  # noqa: E402


def test_a_replica_that_joined_late_and_then_took_its_turn_passes():
    # First 10 s: 60 calls to the two old replicas, none to the new one; then an even spread.
    samples = [[0, 0, 0], [30, 30, 0], [60, 60, 0], [74, 73, 14], [88, 87, 28]]
    cumulative = samples[-1][2] / sum(samples[-1])
    assert cumulative < 0.25  # what the old check judged, and failed on
    assert window_share(samples) >= 0.25


def test_a_replica_left_out_of_the_rotation_fails():
    samples = [[0, 0, 0], [30, 30, 0], [60, 60, 0], [90, 90, 0], [120, 120, 1]]
    assert window_share(samples) < 0.25


def test_too_few_calls_are_not_judged():
    samples = [[0, 0, 0], [5, 5, 5], [10, 10, 10]]
    assert sum(samples[-1]) < WINDOW_CALLS
    assert window_share(samples) == 0.0


def test_the_window_is_the_newest_stretch_with_enough_calls():
    # Sample 2 -> 3 holds 42 calls, 14 of them on the new replica; from sample 0 it would be 28 of 124.
    samples = [[0, 0, 0], [20, 20, 0], [34, 34, 14], [48, 48, 28]]
    assert window_share(samples) == round(14 / 42, 2)
