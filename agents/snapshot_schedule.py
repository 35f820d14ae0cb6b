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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from streams.clock import DAY_US


class SnapshotSchedule:
    """Per partition: the day and wall time of its last full pass, and its reps with an
    alert clearing."""

    def __init__(self, full_seconds: float, wall: Callable[[], float]) -> None:
        self._full_seconds = full_seconds
        self._wall = wall
        self._full: dict[int, tuple[int, float]] = {}
        self._clearing: dict[int, set[str]] = {}

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
