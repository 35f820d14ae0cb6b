"""Keyed stage state with its delivery memory (agents/keyed_state.py), over a dict
standing in for the Faust table (the table itself is exercised by the integration
tests)."""

from __future__ import annotations

import asyncio
import zlib
from types import SimpleNamespace
from typing import Any

import msgspec
from faust.types import TP

from agents.due_index import DueIndex
from agents.keyed_state import POSITIONS, WHOLE_RECORD, Entry, KeyedState
from agents.routing import position


class Counter(msgspec.Struct):
    n: int = 0


class Changelog:
    """A changelog topic and the producer sending to it: records what was sent, as
    (partition, key, value), and acknowledges each send at once, at the next offset."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, bytes]] = []

    def get_topic_name(self) -> str:
        return "changelog"

    async def send(self, topic: str, key: bytes, value: bytes, *, partition: int,
                   **_: Any) -> asyncio.Future[Any]:
        self.sent.append((partition, key.decode(), value))
        acknowledged = asyncio.get_running_loop().create_future()
        acknowledged.set_result(SimpleNamespace(offset=len(self.sent) - 1))
        return acknowledged


class Sensors:
    def on_send_initiated(self, *_: Any, **__: Any) -> None:
        return None

    def on_send_completed(self, *_: Any) -> None:
        pass


class Table(dict[str, bytes]):
    """A Faust table's parts that agents.table_writes uses: its store (which keeps the
    changelog offset of its last acknowledged write per partition), its changelog and
    its app's producer and sensors."""

    def __init__(self) -> None:
        super().__init__()
        self.data = self
        self.changelog_topic = Changelog()
        self.app = SimpleNamespace(producer=self.changelog_topic, sensors=Sensors())
        self.persisted: dict[TP, int] = {}

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.persisted[tp] = offset


def _entry(state: Counter, **fields: Any) -> Entry[Counter]:
    """An entry as this version stores it (``last`` and ``sent`` by position)."""
    return Entry(state, version=POSITIONS, **fields)


def _states(table: Table) -> KeyedState[Counter]:
    return KeyedState(table, Counter, lambda key: zlib.crc32(key.encode()) % 2)


class Record:
    """A Faust event's part that a write reads: its message's partition."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


def _put(states: KeyedState[Counter], key: str, entry: Entry[Counter], partition: int,
         maybe_unchanged: bool = False) -> None:
    states.put(key, entry, Record(partition),  # type: ignore[arg-type]
               maybe_unchanged=maybe_unchanged)
    asyncio.run(states.flush())


def test_an_entry_round_trips_through_the_table_with_its_delivery_memory() -> None:
    table = Table()
    states = _states(table)
    entry = _entry(Counter(3), last=41, applied={"in:0": (7, 1)},
                  sent={41: [("by-rep", b"r1", b"v")]})
    _put(states, "k", entry, 0)
    again = _states(table).entry("k")
    assert again == entry and _states(table).get("k") == Counter(3)
    assert table.changelog_topic.sent == [(0, "k", table["k"])]


def test_the_changelog_offset_of_an_acknowledged_write_is_kept_in_the_store() -> None:
    table = Table()
    states = _states(table)

    async def write_and_let_acknowledgements_run() -> None:
        for partition, n in ((1, 1), (0, 2), (1, 3)):
            states.put(f"k{n}", _entry(Counter(n), last=n), Record(partition))  # type: ignore[arg-type]
            await states.flush()
        await asyncio.sleep(0)  # one turn of the loop: the done callbacks run

    asyncio.run(write_and_let_acknowledgements_run())
    assert table.persisted == {TP("changelog", 1): 2, TP("changelog", 0): 1}


def test_a_key_changed_by_several_records_of_a_batch_is_written_once_at_its_flush() -> None:
    table = Table()
    states = _states(table)
    for n in (1, 2, 3):
        states.put("k", _entry(Counter(n), last=n), Record(1))  # type: ignore[arg-type]
    assert states.get("k") == Counter(3) and "k" not in table  # read from the cache
    asyncio.run(states.flush())
    asyncio.run(states.flush())  # nothing changed since: nothing written
    assert [(p, k) for p, k, _ in table.changelog_topic.sent] == [(1, "k")]
    assert _states(table).entry("k") == _entry(Counter(3), last=3)


class CountingTable(Table):
    """Counts reads of stored values."""

    reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


def test_only_a_put_that_may_be_unchanged_reads_the_stored_value_back() -> None:
    table = CountingTable()
    states = _states(table)
    _put(states, "k", _entry(Counter(1), last=1), 0)
    assert table.reads == 0 and len(table.changelog_topic.sent) == 1
    # A snapshot tick puts the same entry: compared, and not written again.
    _put(states, "k", _entry(Counter(1), last=1), 0, maybe_unchanged=True)
    assert table.reads == 1 and len(table.changelog_topic.sent) == 1
    # A message's put has a new position, so it is written without a read.
    _put(states, "k", _entry(Counter(1), last=2), 0)
    assert table.reads == 1 and len(table.changelog_topic.sent) == 2
    # A message's put then a tick's in one batch: the entry differs from the stored one.
    states.put("k", _entry(Counter(2), last=3), Record(0))  # type: ignore[arg-type]
    states.put("k", _entry(Counter(2), last=3), Record(0),  # type: ignore[arg-type]
               maybe_unchanged=True)
    asyncio.run(states.flush())
    assert table.reads == 1 and len(table.changelog_topic.sent) == 3
    assert _states(table).entry("k") == _entry(Counter(2), last=3)


def test_a_revoke_keeps_unwritten_entries_for_the_batch_still_running() -> None:
    table = Table()
    states = _states(table)
    key = next(k for k in (f"k{i}" for i in range(20)) if zlib.crc32(k.encode()) % 2 == 1)
    states.put(key, _entry(Counter(1)), Record(1))  # type: ignore[arg-type]
    states.revoke({1})
    asyncio.run(states.flush())
    assert _states(table).get(key) == Counter(1)
    assert [(p, k) for p, k, _ in table.changelog_topic.sent] == [(1, key)]


def test_a_message_at_or_before_the_last_position_was_processed() -> None:
    entry = _entry(Counter(), last=position(10, 2))
    assert entry.processed(position(10, 2)) and entry.processed(position(10, 1))
    assert entry.processed(position(3, 7)) and not entry.processed(position(10, 3))
    assert not entry.processed(position(11))


def test_an_entry_stored_by_record_offsets_reads_as_positions() -> None:
    # Stored before envelopes: a record was one message, processed whole.
    old = msgspec.msgpack.encode([{"n": 1}, 10, {"a:0": [5, 1]}, {9: [["t", b"k", b"v"]]}])
    entry = msgspec.msgpack.decode(old, type=Entry[Counter])
    assert entry.last == position(10, WHOLE_RECORD) and entry.version == POSITIONS
    assert entry.processed(position(10, 5)) and not entry.processed(position(11))
    assert entry.sent == {position(9): [("t", b"k", b"v")]}
    assert entry.applied == {"a:0": (5, 1)}
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(entry), type=Entry[Counter]) == entry


def test_a_message_at_or_before_the_last_applied_origin_of_its_source_was_applied() -> None:
    entry = _entry(Counter(), applied={"a:0": (5, 1)})
    assert entry.applied_before("a:0", 5, 1) and entry.applied_before("a:0", 4, 9)
    assert not entry.applied_before("a:0", 5, 2) and not entry.applied_before("a:0", 6, 0)
    assert not entry.applied_before("a:1", 0, 0)


def test_what_a_partition_sent_since_its_commit_comes_back_in_record_order() -> None:
    table = Table()
    states = _states(table)
    keys = [key for key in (f"k{i}" for i in range(20)) if zlib.crc32(key.encode()) % 2 == 0]
    a, b = keys[:2]
    _put(states, a, _entry(Counter(), sent={position(9): [("t", b"a", b"9")],
                                            position(4): [("t", b"a", b"4")]}), 0)
    _put(states, b, _entry(Counter(), sent={position(6): [("t", b"b", b"6"),
                                                          ("t", b"b", b"6.1")]}), 0)
    fresh = _states(table)  # after a restart: found by scanning the table
    assert fresh.sent_since_commit(0).before(position(10)) == [
        ("t", b"a", b"4"), ("t", b"b", b"6"), ("t", b"b", b"6.1"), ("t", b"a", b"9")]
    assert fresh.sent_since_commit(1).before(position(10)) == []


def test_a_replay_gets_each_records_messages_where_it_reaches_that_record() -> None:
    table = Table()
    states = _states(table)
    keys = [key for key in (f"k{i}" for i in range(20)) if zlib.crc32(key.encode()) % 2 == 0]
    a, b = keys[:2]
    _put(states, a, _entry(Counter(), last=position(9), sent={
        position(3): [("t", b"a", b"3")], position(9): [("t", b"a", b"9")]}), 0)
    _put(states, b, _entry(Counter(), last=position(9), sent={
        position(6): [("t", b"b", b"6")], position(9): [("t", b"b", b"9")]}), 0)
    resends = _states(table).sent_since_commit(0, key_order=lambda key: key)
    # The replay starts at 5 (committed): record 3's messages come first, then record
    # 6's when the replay reaches it, never record 9's ahead of record 7's new ones.
    assert resends.before(position(5)) == [("t", b"a", b"3")]
    assert resends.at(position(5)) == {}
    assert resends.before(position(6)) == []
    assert resends.at(position(6)) == {b: [("t", b"b", b"6")]}
    assert resends.before(position(9)) == []
    assert resends.at(position(9)) == {a: [("t", b"a", b"9")], b: [("t", b"b", b"9")]}
    # Each handed out once.
    assert resends.at(position(9)) == {} and resends.before(position(100)) == []


def test_the_due_index_is_rebuilt_from_the_stored_states() -> None:
    table = Table()
    states = _states(table)
    for key, n in (("x", 5), ("y", 2), ("z", 9)):
        _put(states, key, _entry(Counter(n)), zlib.crc32(key.encode()) % 2)
    fresh = _states(table)
    due = DueIndex(fresh, lambda state: state.n)
    found = [key for p in (0, 1) for key in due.pop_due(p, 6)]
    assert sorted(found) == ["x", "y"]


def test_a_revoke_forgets_keys_that_were_only_read_so_a_later_owner_wins() -> None:
    table = Table()
    states = _states(table)
    key = next(k for k in (f"k{i}" for i in range(20)) if zlib.crc32(k.encode()) % 2 == 1)
    _put(_states(table), key, _entry(Counter(1), last=5), 1)
    assert states.get(key) == Counter(1)  # read, never written here
    states.revoke({1})
    _put(_states(table), key, _entry(Counter(2), last=9), 1)  # the other worker moves on
    assert states.get(key) == Counter(2) and states.entry(key).last == 9


def test_the_cache_keeps_the_most_recently_used_keys_and_reads_the_others_back() -> None:
    table = Table()
    states = KeyedState(table, Counter, lambda key: 0, cache_keys=2)
    for n, key in enumerate(("a", "b", "c")):
        states.put(key, _entry(Counter(n)), Record(0))  # type: ignore[arg-type]
    assert states.get("a") == Counter(0)  # a is now the most recently used
    asyncio.run(states.flush())
    assert list(states._cache) == ["c", "a"]
    assert states.get("b") == Counter(1)  # read back from the table


def test_after_an_assignment_a_key_is_read_again_from_the_table() -> None:
    # A batch still running after the revoke signal cached this key; the partition then
    # moved, its next owner changed the key, and the partition came back.
    table = Table()
    states = _states(table)
    _put(states, "k", _entry(Counter(1), last=5), 1)
    _put(_states(table), "k", _entry(Counter(2), last=9), 1)  # the other worker
    assert states.get("k") == Counter(1)  # stale
    states.forget()
    assert states.get("k") == Counter(2) and states.entry("k").last == 9


def test_a_key_put_again_unchanged_is_not_written_again() -> None:
    table = Table()
    states = _states(table)
    entry = _entry(Counter(1), last=5)
    _put(states, "k", entry, 0)
    _put(states, "k", entry, 0, maybe_unchanged=True)  # a snapshot tick that changed nothing
    entry.state.n = 2
    _put(states, "k", entry, 0, maybe_unchanged=True)  # changed in place: written
    assert [msgspec.msgpack.decode(v)[0]["n"] for _, _, v in table.changelog_topic.sent] == [1, 2]


def test_scans_after_an_assignment_leave_the_cache_as_it_was() -> None:
    table = Table()
    states = _states(table)
    for n in range(10):
        _put(states, f"k{n}", _entry(Counter(n), sent={n: [("t", b"k", b"v")]}), 0)
    fresh = KeyedState(table, Counter, lambda key: 0, cache_keys=2)
    fresh.get("k3")
    fresh.sent_since_commit(0)
    DueIndex(fresh, lambda state: state.n).pop_due(0, 100)
    assert list(fresh._cache) == ["k3"]


def test_a_stage_that_does_not_snapshot_keeps_no_key_in_memory_beyond_its_cache() -> None:
    table = Table()
    states = KeyedState(table, Counter, lambda key: 0, cache_keys=2)
    for n in range(50):
        _put(states, f"k{n}", _entry(Counter(n)), 0)
    assert states.dirty == {} and states._keys == {} and len(states._cache) == 2
    assert len(table) == 50


def test_a_stage_that_snapshots_tracks_changed_keys_and_lists_its_states() -> None:
    table = Table()
    states = KeyedState(table, Counter, lambda key: 0, cache_keys=2, track_changes=True)
    for n in range(3):
        _put(states, f"k{n}", _entry(Counter(n)), 0)
    assert states.take_dirty(0) == {"k0", "k1", "k2"} and states.take_dirty(0) == set()
    assert dict(states.items()) == {"k0": Counter(0), "k1": Counter(1), "k2": Counter(2)}


def test_the_key_index_includes_keys_put_and_not_yet_written() -> None:
    table = Table()
    states = _states(table)
    _put(states, "a", _entry(Counter(1)), 0)
    states.put("b", _entry(Counter(2)), Record(0))  # type: ignore[arg-type]
    on_0 = {key for key in ("a", "b") if zlib.crc32(key.encode()) % 2 == 0}
    assert states.keys_in(0) == on_0


def test_a_scan_of_the_store_sees_the_cached_entry_which_may_be_newer() -> None:
    table = Table()
    states = KeyedState(table, Counter, lambda key: 0)
    _put(states, "k", _entry(Counter(1)), 0)
    states.entry("k").state.n = 7  # changed in this batch, not flushed yet
    assert [(key, entry.state) for key, entry in states.stored(0)] == [("k", Counter(7))]


def test_what_committed_records_sent_is_not_sent_again() -> None:
    # Faust flushes the producer before committing: those messages were delivered.
    table = Table()
    states = KeyedState(table, Counter, lambda key: 0)
    _put(states, "a", _entry(Counter(), sent={position(3): [("t", b"a", b"3")],
                                              position(7): [("t", b"a", b"7")]}), 0)
    _put(states, "b", _entry(Counter(), sent={position(4): [("t", b"b", b"4")]}), 0)
    resends = KeyedState(table, Counter, lambda key: 0).sent_since_commit(0, committed=5)
    assert resends.before(position(7)) == []
    assert resends.at(position(7)) == {"a": [("t", b"a", b"7")]}


def test_an_envelopes_items_are_sent_again_in_item_order_whatever_their_keys() -> None:
    table = Table()
    states = KeyedState(table, Counter, lambda key: 0)
    _put(states, "z", _entry(Counter(), sent={position(4, 0): [("t", b"z", b"0")]}), 0)
    _put(states, "a", _entry(Counter(), sent={position(4, 3): [("t", b"a", b"3")]}), 0)
    resends = KeyedState(table, Counter, lambda key: 0).sent_since_commit(
        0, key_order=lambda key: key)
    assert resends.before(position(5)) == [("t", b"z", b"0"), ("t", b"a", b"3")]
