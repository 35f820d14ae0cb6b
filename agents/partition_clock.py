"""Stream time per input partition, lateness verdicts that a replay repeats exactly, and
the watermark over all input partitions (docs/topology.md, "Stream time").

No Faust here: the pipeline keeps one ``PartitionTime`` per input partition in a global
table and calls these functions.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def watermark(entries: Iterable[PartitionTime], complete: bool, lateness: int,
              quiet_since: float, wall_now: int) -> Clock:
    """Stream time T (largest event time of any partition, or ``wall_now`` when live and
    idle) and the watermark W: the slowest partition that still has records waiting or
    saw one recently holds it back (all idle: T), minus the lateness bound. Until every
    input partition has an entry (``complete``), W is NEVER: a partition not heard from
    yet may hold the oldest records."""
    known = list(entries)
    now = max([wall_now, *(entry.at for entry in known)])
    if not complete:
        return Clock(now, NEVER)
    holding = [e.hold for e in known if e.behind or e.seen > quiet_since]
    slowest = min(holding) if holding else now
    return Clock(now, NEVER if slowest == NEVER else slowest - lateness)
