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
    schedule = SnapshotSchedule(30, 1.0, Wall())
    assert schedule.due(0, DAY, set(), lambda: EVERY) == EVERY
    assert schedule.due(1, DAY, {"r9"}, lambda: ["r9", "r8"]) == ["r8", "r9"]


def test_within_a_day_only_changed_reps_and_reps_clearing_an_alert() -> None:
    schedule = SnapshotSchedule(30, 1.0, Wall())
    schedule.due(0, DAY, set(), lambda: EVERY)
    assert schedule.due(0, DAY + 3_600_000_000, {"r2"}, lambda: EVERY) == ["r2"]
    schedule.clearing(0, "r3", True)
    assert schedule.due(0, DAY + 7_200_000_000, set(), lambda: EVERY) == ["r3"]
    schedule.clearing(0, "r3", False)
    assert schedule.due(0, DAY + 7_300_000_000, set(), lambda: EVERY) == []


def test_a_new_day_takes_every_rep_at_most_once_per_full_interval() -> None:
    wall = Wall()
    schedule = SnapshotSchedule(30, 1.0, wall)
    schedule.due(0, DAY, set(), lambda: EVERY)
    wall.now += 10
    assert schedule.due(0, DAY + DAY_US, {"r1"}, lambda: EVERY) == ["r1"]  # too soon
    wall.now += 20
    assert schedule.due(0, DAY + 2 * DAY_US, set(), lambda: EVERY) == EVERY
    wall.now += 100
    assert schedule.due(0, DAY + 2 * DAY_US + 1, set(), lambda: EVERY) == []  # same day


def test_after_an_assignment_each_partition_starts_with_a_full_pass() -> None:
    schedule = SnapshotSchedule(30, 1.0, Wall())
    schedule.due(0, DAY, set(), lambda: EVERY)
    schedule.clearing(0, "r1", True)
    schedule.forget()
    assert schedule.due(0, DAY, set(), lambda: EVERY) == EVERY
    assert schedule.due(0, DAY, set(), lambda: EVERY) == []


def test_a_pass_waits_until_the_last_ones_are_within_the_budget() -> None:
    wall = Wall()
    schedule = SnapshotSchedule(30, 0.1, wall)
    assert schedule.ready(0)
    schedule.spent(0, 0.5)  # a tenth of the time: the next pass 5 s after this one
    wall.now += 4.9
    assert not schedule.ready(0)
    wall.now += 0.1
    assert schedule.ready(0)


def test_the_budget_is_the_whole_workers() -> None:
    wall = Wall()
    schedule = SnapshotSchedule(30, 0.1, wall)
    schedule.spent(0, 0.5)
    schedule.spent(1, 0.5)  # both partitions' passes: 1 s, so 10 s before the next
    wall.now += 9.9
    assert schedule.ready(0) and not schedule.ready(1)
    wall.now += 0.1
    assert schedule.ready(1)
    assert schedule.ready(2)  # a partition that never passed


def test_quick_passes_run_every_tick() -> None:
    wall = Wall()
    schedule = SnapshotSchedule(30, 0.1, wall)
    schedule.spent(0, 0.01)
    wall.now += 2  # the next tick
    assert schedule.ready(0)


def test_after_an_assignment_no_partition_waits() -> None:
    wall = Wall()
    schedule = SnapshotSchedule(30, 0.1, wall)
    schedule.spent(0, 5)
    schedule.forget()
    assert schedule.ready(0)
    schedule.spent(1, 0.1)  # the forgotten pass no longer counts
    wall.now += 1
    assert schedule.ready(1)
