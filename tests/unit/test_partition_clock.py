"""Per-partition stream time, replay-exact lateness verdicts and the watermark
(agents/partition_clock.py)."""

from __future__ import annotations

import random
from collections.abc import Iterable

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.partition_clock import LATE_MEMORY, PartitionTime, Watermark, judge, reassigned
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


def scanned_watermark(entries: Iterable[PartitionTime], complete: bool, lateness: int,
                      quiet_since: float, wall_now: int) -> Clock:
    """The rule of ``Watermark`` written as one scan of every entry: the oracle."""
    known = list(entries)
    now = max([wall_now, *(entry.at for entry in known)])
    if not complete:
        return Clock(now, NEVER)
    holding = [e.hold for e in known if e.behind or e.seen > quiet_since]
    slowest = min(holding) if holding else now
    return Clock(now, NEVER if slowest == NEVER else slowest - lateness)


IDLE = 10.0


def _entry(at: int, hold: int | None = None, behind: bool = False,
           seen: float = 0.0) -> PartitionTime:
    return PartitionTime(at=at, hold=at if hold is None else hold, behind=behind, seen=seen)


def _clock(entries: list[PartitionTime], wall: float, wall_now: int = 0,
           complete: bool = True) -> Clock:
    """Watermark.clock over ``entries`` (sources p0, p1, ...), owned by this worker."""
    times = Watermark(L, IDLE)
    for i, entry in enumerate(entries):
        times.own(f"p{i}", entry)
    expected = {f"p{i}" for i in range(len(entries) + (0 if complete else 1))}
    return times.clock(wall, wall_now, expected)


def test_the_slowest_partition_with_records_waiting_holds_the_watermark() -> None:
    entries = [_entry(5000, behind=True), _entry(2000, behind=True), _entry(9000)]
    assert _clock(entries, wall=20.0) == Clock(9000, 1900)


def test_a_caught_up_partition_holds_until_it_has_been_quiet_a_while() -> None:
    entries = [_entry(5000, behind=True), _entry(2000, seen=20.0)]
    assert _clock(entries, wall=20.0).watermark == 1900
    assert _clock(entries, wall=40.0).watermark == 4900


def test_everything_idle_puts_the_watermark_at_stream_time_minus_the_bound() -> None:
    entries = [_entry(5000), _entry(2000)]
    assert _clock(entries, wall=20.0) == Clock(5000, 4900)
    assert _clock(entries, wall=20.0, wall_now=8000) == Clock(8000, 7900)


def test_no_watermark_until_every_input_partition_is_known() -> None:
    entries = [_entry(5000, behind=True)]
    assert _clock(entries, wall=20.0, complete=False) == Clock(5000, NEVER)


def test_a_reassigned_partition_holds_the_watermark_at_never() -> None:
    entries = [_entry(5000, behind=True), reassigned(_entry(9000), 20.0)]
    assert _clock(entries, wall=20.0) == Clock(9000, NEVER)


def test_a_partition_going_quiet_releases_the_watermark_without_a_new_entry() -> None:
    times = Watermark(L, IDLE)
    times.own("a", _entry(5000, behind=True))
    times.own("b", _entry(2000, seen=20.0))
    assert times.clock(25.0, 0, {"a", "b"}).watermark == 1900
    assert times.clock(30.0, 0, {"a", "b"}).watermark == 4900  # b quiet for IDLE seconds


def test_a_partition_found_caught_up_after_a_quiet_while_stops_holding_at_once() -> None:
    times = Watermark(L, IDLE)
    times.own("a", _entry(5000, behind=True))
    times.own("b", _entry(2000, behind=True))
    assert times.clock(20.0, 0, {"a", "b"}).watermark == 1900
    times.own("b", _entry(2000, behind=False))  # nothing waiting; last seen at 0.0
    assert times.clock(20.0, 0, {"a", "b"}).watermark == 4900


def test_the_others_entries_count_and_owned_ones_replace_them() -> None:
    times = Watermark(L, IDLE)
    times.others({"a": _entry(3000, behind=True), "b": _entry(9000, behind=True)})
    assert times.clock(1.0, 0, {"a", "b"}) == Clock(9000, 2900)
    times.own("a", _entry(6000, behind=True))
    assert times.clock(1.0, 0, {"a", "b"}) == Clock(9000, 5900)
    times.disown("a")  # back to the others' (stale) entry
    assert times.clock(1.0, 0, {"a", "b"}) == Clock(9000, 2900)


SOURCES = ["a", "b", "c"]
_times = st.sampled_from([NEVER, 0, 1000, 2000, 3000, 5000])
_entries = st.builds(  # ``seen`` in seconds before the wall-clock time of the step
    PartitionTime, at=_times, hold=_times, behind=st.booleans(),
    seen=st.sampled_from([0.0, 0.0, 3.0, IDLE, 15.0]),
)
_clocks = st.tuples(st.just("clock"), st.sampled_from([0.0, 1.0, 4.0, 9.0]),
                   st.sampled_from([0, 4000]), st.sampled_from([None, {"a"}, set(SOURCES)]))
_steps = st.lists(st.one_of(  # mostly owned entries changing between reads, as at ingest
    st.tuples(st.just("own"), st.sampled_from(SOURCES), _entries), _clocks,
    st.tuples(st.just("own"), st.sampled_from(SOURCES), _entries), _clocks,
    st.tuples(st.just("disown"), st.sampled_from(SOURCES)),
    st.tuples(st.just("others"), st.dictionaries(st.sampled_from(SOURCES), _entries)),
), max_size=40)


def _seen_at(entry: PartitionTime, wall: float) -> PartitionTime:
    return msgspec.structs.replace(entry, seen=wall - entry.seen)


@settings(max_examples=1000)
@given(_steps)
def test_kept_up_to_date_it_always_answers_what_a_scan_of_every_entry_does(
    steps: list[tuple],
) -> None:
    times = Watermark(L, IDLE)
    owned: dict[str, PartitionTime] = {}
    others: dict[str, PartitionTime] = {}
    wall = 0.0
    for step in steps:
        if step[0] == "own":
            owned[step[1]] = _seen_at(step[2], wall)
            times.own(step[1], owned[step[1]])
        elif step[0] == "disown":
            owned.pop(step[1], None)
            times.disown(step[1])
        elif step[0] == "others":
            others = {source: _seen_at(entry, wall) for source, entry in step[1].items()}
            times.others(dict(others))
        else:
            wall += step[1]  # wall-clock time never goes back
            entries = {**others, **owned}
            expected = step[3]
            complete = expected is not None and expected <= entries.keys()
            assert times.clock(wall, step[2], expected) == scanned_watermark(
                entries.values(), complete, L, wall - IDLE, step[2])
        assert dict(times.owned) == owned
