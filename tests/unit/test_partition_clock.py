"""Per-partition stream time, replay-exact lateness verdicts and the watermark
(agents/partition_clock.py)."""

from __future__ import annotations

import random

from agents.partition_clock import LATE_MEMORY, PartitionTime, judge, reassigned, watermark
from streams.deals import NEVER
from streams.stages import Clock

L = 100  # lateness bound, µs


def _run(times: list[int], entry: PartitionTime | None = None,
         first_offset: int = 0) -> tuple[list[bool], PartitionTime]:
    entry = entry or PartitionTime()
    verdicts = []
    for offset, at in enumerate(times, start=first_offset):
        late, entry = judge(entry, offset, at, L, behind=True, wall=1.0)
        verdicts.append(late)
    return verdicts, entry


def test_a_record_older_than_the_partition_time_minus_the_bound_is_late() -> None:
    verdicts, entry = _run([1000, 950, 900, 899, 1001, 901])
    assert verdicts == [False, False, False, True, False, False]
    assert (entry.at, entry.hold, entry.offset, entry.late) == (1001, 1001, 5, [3])


def test_a_replay_from_any_committed_offset_repeats_every_first_verdict() -> None:
    rnd = random.Random(3)
    times = [rnd.randint(0, 4000) + i * 10 for i in range(400)]
    first, _ = _run(times)
    assert 0 < sum(first) < len(first)
    for _ in range(30):
        stored_at = rnd.randrange(len(times))  # the last entry write that survived
        committed = rnd.randrange(stored_at + 1)  # replay starts here
        _, stored = _run(times[: stored_at + 1])
        again, _ = _run(times[committed:], reassigned(stored, 2.0), first_offset=committed)
        assert again == first[committed:], (committed, stored_at)


def test_after_reassignment_the_partition_holds_from_never_up_through_its_replay() -> None:
    _, stored = _run([500, 700, 900])
    entry = reassigned(stored, 5.0)
    assert (entry.at, entry.hold, entry.behind) == (900, NEVER, True)
    _, entry = judge(entry, 1, 700, L, behind=True, wall=6.0)  # replayed record
    assert (entry.at, entry.hold) == (900, 700)
    _, entry = judge(entry, 3, 950, L, behind=False, wall=7.0)  # new record
    assert (entry.at, entry.hold, entry.offset) == (950, 950, 3)


def test_late_memory_is_bounded() -> None:
    entry = PartitionTime(at=10_000, hold=10_000, offset=0)
    for offset in range(1, LATE_MEMORY + 20):
        late, entry = judge(entry, offset, 0, L, behind=True, wall=1.0)
        assert late
    assert len(entry.late) == LATE_MEMORY and entry.late[-1] == LATE_MEMORY + 19


def _entry(at: int, hold: int | None = None, behind: bool = False,
           seen: float = 0.0) -> PartitionTime:
    return PartitionTime(at=at, hold=at if hold is None else hold, behind=behind, seen=seen)


def test_the_slowest_partition_with_records_waiting_holds_the_watermark() -> None:
    entries = [_entry(5000, behind=True), _entry(2000, behind=True), _entry(9000)]
    assert watermark(entries, True, L, quiet_since=10.0, wall_now=0) == Clock(9000, 1900)


def test_a_caught_up_partition_holds_until_it_has_been_quiet_a_while() -> None:
    entries = [_entry(5000, behind=True), _entry(2000, seen=20.0)]
    assert watermark(entries, True, L, quiet_since=10.0, wall_now=0).watermark == 1900
    assert watermark(entries, True, L, quiet_since=30.0, wall_now=0).watermark == 4900


def test_everything_idle_puts_the_watermark_at_stream_time_minus_the_bound() -> None:
    entries = [_entry(5000), _entry(2000)]
    assert watermark(entries, True, L, quiet_since=10.0, wall_now=0) == Clock(5000, 4900)
    assert watermark(entries, True, L, quiet_since=10.0, wall_now=8000) == Clock(8000, 7900)


def test_no_watermark_until_every_input_partition_is_known() -> None:
    entries = [_entry(5000, behind=True)]
    assert watermark(entries, False, L, quiet_since=10.0, wall_now=0) == Clock(5000, NEVER)


def test_a_reassigned_partition_holds_the_watermark_at_never() -> None:
    entries = [_entry(5000, behind=True), reassigned(_entry(9000), 20.0)]
    assert watermark(entries, True, L, quiet_since=10.0, wall_now=0) == Clock(9000, NEVER)
