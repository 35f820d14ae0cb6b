"""Which reps a snapshot tick re-evaluates.

Every rep KPI reads stream time by the day (``clock.now // DAY_US``), so a rep that did
not change since its last snapshot has the same KPIs and figures until stream time
enters a new day; only an alert waiting out its clear time (``back_since`` set) can
change with time alone. Re-evaluating every rep whenever stream time moved cost about
a millisecond a rep each tick: 200 reps kept a worker busy with no input at all, and
10,000 reps would need five seconds a tick of two. (A rep's KPI reads have since
dropped from 339 to 80 µs, measured at 1,000 reps: 0.8 s a tick at 10,000 before
encoding and sending.)

So a tick takes the reps changed since the last one and those with an alert clearing;
every rep of the partition when stream time entered a new day, at most once per
``full_seconds`` of wall time (a backfill crosses days each tick; an unchanged rep's
snapshot then lags by up to that, with values as of an earlier day).

A pass also waits for its share of the worker's time: at 10,000 reps and 3,000 events/s
of backfill, a 2 s tick's events touch thousands of distinct reps (about 4,500 expected
of 6,000 events), and with a pass every tick the worker took 447-496 µs of CPU per input
event, against 262 µs with a 10 s interval (README, Benchmarks). After each pass the
partition's next one waits until the latest passes of every partition, together, are at
most ``budget`` of the wall time since. A live worker with few changes still passes
every tick; a busy one coalesces more changes per rep into each snapshot, which a
compacted topic would have dropped anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from streams.clock import DAY_US


class SnapshotSchedule:
    """Per partition: the day and wall time of its last full pass, its reps with an
    alert clearing, and the time its last pass took."""

    def __init__(self, full_seconds: float, budget: float, wall: Callable[[], float]) -> None:
        self._full_seconds = full_seconds
        self._wall = wall
        self._budget = budget
        self._full: dict[int, tuple[int, float]] = {}
        self._clearing: dict[int, set[str]] = {}
        self._spent: dict[int, float] = {}  # partition -> seconds its last pass took
        self._next: dict[int, float] = {}  # partition -> wall time its next pass may start

    def ready(self, partition: int) -> bool:
        """Whether a pass of ``partition`` may run now (else its changes wait)."""
        return self._wall() >= self._next.get(partition, -math.inf)

    def spent(self, partition: int, seconds: float) -> None:
        """Note the time a pass of ``partition`` just took, ending now."""
        self._spent[partition] = seconds
        self._next[partition] = self._wall() + sum(self._spent.values()) / self._budget

    def due(
        self, partition: int, now: int, changed: set[str], every: Callable[[], Iterable[str]]
    ) -> list[str]:
        """The reps of ``partition`` to snapshot at stream time ``now`` (µs): ``changed``
        ones and those clearing an alert, or ``every()`` rep on a full pass; sorted."""
        day, wall = now // DAY_US, self._wall()
        last = self._full.get(partition)
        if last is None or (last[0] != day and wall - last[1] >= self._full_seconds):
            self._full[partition] = (day, wall)
            return sorted(every())
        return sorted(changed | self._clearing.get(partition, set()))

    def clearing(self, partition: int, rep_id: str, waiting: bool) -> None:
        """Note whether ``rep_id`` has an alert waiting out its clear time."""
        reps = self._clearing.setdefault(partition, set())
        if waiting:
            reps.add(rep_id)
        else:
            reps.discard(rep_id)

    def forget(self) -> None:
        """On an assignment: each partition's next tick is a full pass."""
        self._full.clear()
        self._clearing.clear()
        self._spent.clear()
        self._next.clear()
