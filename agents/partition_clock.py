"""Stream time per input partition, lateness verdicts that a replay repeats exactly, and
the watermark over all input partitions (docs/topology.md, "Stream time").

No Faust here: the pipeline keeps one ``PartitionTime`` per input partition in a global
table and calls these functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from streams.deals import NEVER
from streams.stages import Clock

LATE_MEMORY = 512  # late verdicts remembered per partition for replays (newest kept)


class PartitionTime(msgspec.Struct, array_like=True, gc=False):
    """One input partition.

    ``at``: its largest event time (µs), which judges lateness. ``hold``: where it holds
    the watermark back: ``at``, except right after the partition was (re)assigned, when
    it starts from NEVER and follows the records replayed since. ``behind``: records
    are waiting in it; ``seen``: wall clock (s) of its last record. ``offset``: the last
    record whose verdict this entry reflects; ``late``: offsets up to it judged late.
    """

    at: int = NEVER
    hold: int = NEVER
    behind: bool = True
    seen: float = 0.0
    offset: int = -1
    late: list[int] = msgspec.field(default_factory=list)


def judge(known: PartitionTime, offset: int, at: int, lateness: int, behind: bool,
          wall: float) -> tuple[bool, PartitionTime]:
    """Whether the record at ``offset`` (event time ``at``) is late, and the entry after
    it. A record at or before ``known.offset`` is a replay (after a crash or a handover)
    and gets the verdict it got the first time; a new one is judged against ``at``."""
    if offset <= known.offset:
        late = offset in known.late
        hold = known.hold if late else max(known.hold, at)
        return late, msgspec.structs.replace(known, hold=hold, behind=behind, seen=wall)
    late = known.at != NEVER and at < known.at - lateness
    if late:
        return True, msgspec.structs.replace(
            known, behind=behind, seen=wall, offset=offset,
            late=[*known.late[-(LATE_MEMORY - 1):], offset])
    return False, msgspec.structs.replace(
        known, at=max(known.at, at), hold=max(known.hold, at), behind=behind, seen=wall,
        offset=offset)


def reassigned(known: PartitionTime | None, wall: float) -> PartitionTime:
    """The entry of a partition this worker was just assigned: it holds the watermark at
    NEVER until its replayed records show where it is (its stored ``at`` may already
    include records whose routed messages were lost in a crash)."""
    base = known if known is not None else PartitionTime()
    return msgspec.structs.replace(base, hold=NEVER, behind=True, seen=wall)


class Watermark:
    """Stream time T and the watermark W over every input partition's entry: this
    worker's own (``own``), the others' as last read (``others``).

    T is the largest event time of any entry (or ``wall_now`` when live and idle). W is
    the slowest entry that still has records waiting (``behind``) or saw one within
    ``idle_seconds`` (a holder), minus the lateness bound; with no holder, T minus the
    bound. Until every expected partition has an entry, W is NEVER: a partition not heard
    from yet may hold the oldest records.

    ``clock`` runs for every input record, so it keeps T and the slowest holder as
    entries change instead of scanning every entry (with 8 input topics of 8 partitions,
    a scan of 64 entries per record was 6.8 % of the worker's busy samples). It scans
    again only when the entry that was the slowest moved, an entry went quiet, T's entry
    moved back, or the entries were replaced; its answer is always the scan's
    (tests/unit/test_partition_clock.py).
    """

    def __init__(self, lateness: int, idle_seconds: float) -> None:
        self.lateness, self.idle_seconds = lateness, idle_seconds
        self._owned: dict[str, PartitionTime] = {}
        self._others: dict[str, PartitionTime] = {}
        self._entries: dict[str, PartitionTime] = {}  # the others', then the owned over them
        self._max_at: int | None = None  # None: scan
        self._scanned = False  # _slowest and _quiet_first are up to date
        self._slowest: int | None = None  # smallest hold of a holder; None: no holder
        self._quiet_first = math.inf  # smallest ``seen`` of a holder not behind
        self._expected: set[str] | None = None
        self._complete: bool | None = None  # None: check again

    @property
    def owned(self) -> Mapping[str, PartitionTime]:
        """This worker's input partitions and their entries."""
        return self._owned

    def own(self, source: str, entry: PartitionTime) -> None:
        """Set the entry of an input partition this worker reads."""
        self._owned[source] = entry
        self._put(source, entry)

    def disown(self, source: str) -> None:
        """Forget an input partition this worker no longer reads."""
        if self._owned.pop(source, None) is not None:
            self.others(self._others)

    def others(self, entries: dict[str, PartitionTime]) -> None:
        """Every partition's entry as last read from the shared clock table (the owned
        ones are kept over them)."""
        self._others = entries
        self._entries = {**entries, **self._owned}
        self._max_at, self._scanned, self._complete = None, False, None

    def _put(self, source: str, new: PartitionTime) -> None:
        entries = self._entries
        old = entries.get(source)
        entries[source] = new
        if old is None:
            self._complete = None
        if self._max_at is not None:
            if new.at > self._max_at:
                self._max_at = new.at
            elif old is not None and old.at == self._max_at and new.at < old.at:
                self._max_at = None
        if not self._scanned:
            return
        if old is not None and old.hold == self._slowest and new.hold != old.hold:
            self._scanned = False  # the slowest holder may have moved on
            return
        # Counted as a holder; if it is not one (not behind and quiet), ``clock`` sees
        # its ``seen`` in _quiet_first and scans.
        self._slowest = new.hold if self._slowest is None else min(self._slowest, new.hold)
        if not new.behind and new.seen < self._quiet_first:
            self._quiet_first = new.seen

    def clock(self, wall: float, wall_now: int, expected: set[str] | None) -> Clock:
        """T and W at wall-clock time ``wall`` (seconds), ``expected``: every input
        partition's source (None: not known yet)."""
        entries = self._entries
        if self._max_at is None:
            self._max_at = max((entry.at for entry in entries.values()), default=NEVER)
        now = max(wall_now, self._max_at)
        if expected is not self._expected or self._complete is None:
            self._expected = expected
            self._complete = expected is not None and expected <= entries.keys()
        if not self._complete:
            return Clock(now, NEVER)
        quiet_since = wall - self.idle_seconds
        if not self._scanned or self._quiet_first <= quiet_since:
            holders = [e for e in entries.values() if e.behind or e.seen > quiet_since]
            self._slowest = min((e.hold for e in holders), default=None)
            self._quiet_first = min((e.seen for e in holders if not e.behind),
                                    default=math.inf)
            self._scanned = True
        slowest = now if self._slowest is None else self._slowest
        return Clock(now, NEVER if slowest == NEVER else slowest - self.lateness)
