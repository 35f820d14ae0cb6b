"""Which reps a snapshot tick re-evaluates (agents/snapshot_schedule.py)."""

from __future__ import annotations

from agents.snapshot_schedule import SnapshotSchedule
from streams.clock import DAY_US

EVERY = ["r1", "r2", "r3"]
DAY = 20_000 * DAY_US


class Wall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_tick_of_a_partition_takes_every_rep() -> None:
    schedule = SnapshotSchedule(30, Wall())
    assert schedule.due(0, DAY, set(), lambda: EVERY) == EVERY
    assert schedule.due(1, DAY, {"r9"}, lambda: ["r9", "r8"]) == ["r8", "r9"]


def test_within_a_day_only_changed_reps_and_reps_clearing_an_alert() -> None:
    schedule = SnapshotSchedule(30, Wall())
    schedule.due(0, DAY, set(), lambda: EVERY)
    assert schedule.due(0, DAY + 3_600_000_000, {"r2"}, lambda: EVERY) == ["r2"]
    schedule.clearing(0, "r3", True)
    assert schedule.due(0, DAY + 7_200_000_000, set(), lambda: EVERY) == ["r3"]
    schedule.clearing(0, "r3", False)
    assert schedule.due(0, DAY + 7_300_000_000, set(), lambda: EVERY) == []


def test_a_new_day_takes_every_rep_at_most_once_per_full_interval() -> None:
    wall = Wall()
    schedule = SnapshotSchedule(30, wall)
    schedule.due(0, DAY, set(), lambda: EVERY)
    wall.now += 10
    assert schedule.due(0, DAY + DAY_US, {"r1"}, lambda: EVERY) == ["r1"]  # too soon
    wall.now += 20
    assert schedule.due(0, DAY + 2 * DAY_US, set(), lambda: EVERY) == EVERY
    wall.now += 100
    assert schedule.due(0, DAY + 2 * DAY_US + 1, set(), lambda: EVERY) == []  # same day


def test_after_an_assignment_each_partition_starts_with_a_full_pass() -> None:
    schedule = SnapshotSchedule(30, Wall())
    schedule.due(0, DAY, set(), lambda: EVERY)
    schedule.clearing(0, "r1", True)
    schedule.forget()
    assert schedule.due(0, DAY, set(), lambda: EVERY) == EVERY
    assert schedule.due(0, DAY, set(), lambda: EVERY) == []
