"""Per-key stage state over a Faust table: decoded on first read, cached, written back
in-stream.

A key's state changes only while processing a message of that key's partition (its own
message, or a tick sent to that partition), and is written once per batch of messages,
under the partition of the last message that changed it (agents/table_writes.py). The
cache holds decoded structs so hot keys are not decoded again; revoked partitions are
dropped from it, and it holds at most ``cache_keys`` entries after each flush.

Nothing else here grows with the number of keys unless asked for: a stage with a
million open deals keeps their states in RocksDB only (their due times, packed, in
agents/due_index.py). Scans after an assignment read a
partition's store directly (``stored``), and only stages that snapshot every key
(reps, teams: ``track_changes``) index their keys (``keys_in``), track changed keys
(``take_dirty``) and list their states (``items``).

Next to the stage's state, each key keeps what makes processing exactly-once over an
at-least-once log (docs/topology.md, "Delivery"): the position of the last message of its
partition it processed, the last origin applied per source, and the messages recent
records sent — in the same changelog record as the state, so they survive together.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import msgspec
from faust.types import EventT

from agents.routing import INDEX_BITS, position
from agents.table_reads import stored_items, stored_value
from agents.table_writes import write
from agents.time_slice import TimeSlice

S = TypeVar("S")
Outgoing = tuple[str, bytes, bytes]  # topic, key, value: a message exactly as sent
POSITIONS = 1  # Entry.version from which ``last`` and ``sent`` count positions
WHOLE_RECORD = (1 << INDEX_BITS) - 1  # an index past any record's last message


class Entry(msgspec.Struct, Generic[S], array_like=True, gc=False):
    """A key's state and its delivery memory. ``last``: position (in the key's
    partition, ``routing.position``) of the last message that changed it; ``applied``:
    per message source, the origin (offset, seq) last applied; ``sent``: per position,
    what processing that message sent, kept until its record's offset is committed."""

    state: S
    last: int = -1
    applied: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)
    sent: dict[int, list[Outgoing]] = msgspec.field(default_factory=dict)
    version: int = 0

    def __post_init__(self) -> None:
        if self.version < POSITIONS:
            # Stored before envelopes: ``last`` and ``sent`` counted record offsets,
            # and a record was one message, processed whole.
            if self.last >= 0:
                self.last = position(self.last, WHOLE_RECORD)
            self.sent = {position(offset): sent for offset, sent in self.sent.items()}
            self.version = POSITIONS

    def processed(self, at: int) -> bool:
        """True when the message at position ``at`` of this key's partition was
        processed for this key already (a replay after a crash or a handover)."""
        return at <= self.last

    def applied_before(self, source: str, offset: int, seq: int) -> bool:
        """True when the message from ``source`` at (offset, seq) was applied already
        (its sender replayed the record that sent it)."""
        known = self.applied.get(source)
        return known is not None and (offset, seq) <= known


class Resends:
    """The messages a partition's records sent after its last commit, by position (of
    the message whose processing sent them) and key, handed out as a replay of the
    partition reaches each position.

    Receivers skip a message whose origin is at or before the last one they applied
    from its source, which is exact only while each source's messages arrive in record
    order. Sending them all up front would break that: a key whose record was replayed
    after a crash sends anew, with an earlier origin than messages already sent again
    for another key, and the receiver would skip it although its first sending was
    lost. Sending each position's messages where the replay reaches it keeps the order.
    """

    def __init__(
        self, by_position: dict[int, dict[str, list[Outgoing]]],
        key_order: Callable[[str], Any],
    ) -> None:
        self._by_position = by_position
        self._key_order = key_order

    def before(self, at: int) -> list[Outgoing]:
        """What messages before position ``at`` sent (the replay starts after them:
        delivered, sent again for order's sake), in position order and by key order
        within a position (a tick's, shared by the keys it processed)."""
        found: list[Outgoing] = []
        for earlier in sorted(p for p in self._by_position if p < at):
            by_key = self._by_position.pop(earlier)
            for key in sorted(by_key, key=self._key_order):
                found += by_key[key]
        return found

    def at(self, at: int) -> dict[str, list[Outgoing]]:
        """What the message at position ``at`` sent, per key (each handed out once)."""
        return self._by_position.pop(at, {})


class KeyedState(Generic[S]):
    """The entries of one stage, keyed by str, stored msgpack-encoded in a Faust table."""

    def __init__(
        self,
        table: Any,
        state_type: type[S],
        partition_of: Callable[[str], int],
        cache_keys: int = 10_000,
        track_changes: bool = False,
    ) -> None:
        self.table = table
        self._cache_keys = cache_keys
        self._track_changes = track_changes
        self._decoder = msgspec.msgpack.Decoder(Entry[state_type])  # type: ignore[valid-type]
        self._encoder = msgspec.msgpack.Encoder()
        self._partition_of = partition_of
        # Least recently used first: the local store keeps every key, memory the hot ones.
        self._cache: OrderedDict[str, Entry[S]] = OrderedDict()
        self._keys: dict[int, set[str]] = {}  # partitions indexed by keys_in only
        self._partitions: set[int] = set()  # holding keys read or put (track_changes)
        # key -> (entry, the record that changed it, whether it may equal the stored one)
        self._unwritten: dict[str, tuple[Entry[S], EventT, bool]] = {}
        self.dirty: dict[int, set[str]] = {}

    def entry(self, key: str) -> Entry[S] | None:
        """The key's entry, or None when the key was never seen."""
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
        else:
            raw = stored_value(self.table, key, self._partition_of(key))
            if raw is None:
                return None
            entry = self._cache[key] = self._decoder.decode(raw)
            if self._track_changes:
                self._partitions.add(self._partition_of(key))
        return entry

    def get(self, key: str) -> S | None:
        """The key's state, or None when the key was never seen."""
        entry = self.entry(key)
        return None if entry is None else entry.state

    def put(self, key: str, entry: Entry[S], event: EventT, *, maybe_unchanged: bool = False,
            ) -> None:
        """Keep the key's changed entry, to be written by :meth:`flush` (``event``: the
        record that changed it, of the key's partition). ``maybe_unchanged``: the entry
        may equal the stored one (a snapshot tick's put), so flush compares before
        writing; an entry that processed a message has a new ``last`` and always differs.
        """
        self._cache[key] = entry
        self._cache.move_to_end(key)
        earlier = self._unwritten.get(key)
        # Stored before this batch: one change in the batch makes the entry differ.
        compare = maybe_unchanged and (earlier is None or earlier[2])
        self._unwritten[key] = entry, event, compare
        partition = event.message.partition
        indexed = self._keys.get(partition)
        if indexed is not None:
            indexed.add(key)
        if self._track_changes:
            self.dirty.setdefault(partition, set()).add(key)
            self._partitions.add(partition)

    async def flush(self) -> None:
        """Write every entry changed since the last flush once, before the batch that
        changed them is acknowledged (and so before its offsets can be committed)."""
        unwritten, self._unwritten = self._unwritten, {}
        turn = TimeSlice()
        for key, (entry, event, compare) in unwritten.items():
            await turn.check()
            value = self._encoder.encode(entry)
            # Snapshot ticks put every key of a partition, most of them unchanged: a
            # rep's entry runs to tens of KB, and rewriting it to the store and the
            # changelog each time was a good share of the worker's work. Reading the
            # stored value back costs too, so only entries that may be unchanged do.
            if not compare or stored_value(self.table, key, self._partition_of(key)) != value:
                await write(self.table, key, value, event)
        # Every cached entry is written now, so any can be dropped and read back later.
        for _ in range(len(self._cache) - self._cache_keys):
            self._cache.popitem(last=False)

    def keys_in(self, partition: int) -> set[str]:
        """Every key of ``partition`` this worker holds, indexed on first use and kept
        in memory from then on (for stages with few keys)."""
        found = self._keys.get(partition)
        if found is None:
            found = self._keys[partition] = {key for key, _ in self._stored_raw(partition)}
            found.update(key for key in self._unwritten if self._partition_of(key) == partition)
        return found

    def stored(self, partition: int) -> Iterator[tuple[str, Entry[S]]]:
        """Every key of ``partition`` in the store with its entry (the cached one when
        cached, which may be newer), decoded without caching; keys put and not yet
        flushed are not included."""
        for key, raw in self._stored_raw(partition):
            entry = self._cache.get(key)
            yield key, self._decoder.decode(raw) if entry is None else entry

    def _stored_raw(self, partition: int) -> Iterator[tuple[str, bytes]]:
        for stored, raw in stored_items(self.table, partition):
            key = stored.decode() if isinstance(stored, bytes) else stored
            if self._partition_of(key) == partition:
                yield key, raw

    def sent_since_commit(
        self, partition: int, committed: int = 0, key_order: Callable[[str], Any] = str
    ) -> Resends:
        """What records of ``partition`` at or after the ``committed`` offset sent and
        may not have been delivered, to be sent again as the replay reaches each record.

        A key keeps what its last records sent until it is next stored after their
        commit, so most keys still hold messages of committed records: Faust flushes
        the producer before it commits, so those were delivered. Sending them again
        made a restart over 200,000 open deals resend every deal's last messages."""
        by_position: dict[int, dict[str, list[Outgoing]]] = {}
        first = position(committed)
        for key, entry in self.stored(partition):
            for at, sent in entry.sent.items():
                if at >= first:
                    by_position.setdefault(at, {})[key] = sent
        return Resends(by_position, key_order)

    def take_dirty(self, partition: int) -> set[str]:
        """Keys of ``partition`` changed since the last call (``track_changes`` only)."""
        return self.dirty.pop(partition, set())

    def items(self) -> Iterator[tuple[str, S]]:
        """All states of the partitions this worker read or changed keys of since its
        last assignment (``track_changes`` only: for metrics)."""
        for partition in sorted(self._partitions):
            for key in list(self.keys_in(partition)):
                state = self.get(key)
                if state is not None:
                    yield key, state

    def forget(self) -> None:
        """Drop every cached state and index (unwritten entries stay, see :meth:`revoke`):
        on an assignment, since a batch still running after the revoke signal may have
        cached keys of partitions that then moved, and changed elsewhere meanwhile."""
        self._cache.clear()
        self._keys.clear()
        self._partitions.clear()
        self.dirty.clear()

    def revoke(self, partitions: set[int]) -> None:
        """Forget cached states of partitions this worker no longer owns. Unwritten
        entries stay: Faust signals a revoke while the batch that changed them may still
        be running, and that batch writes them before it is acknowledged (and before the
        partition's next owner starts); dropping them lost processed records whose
        offsets were then committed (a rebalance revokes every partition, most come
        back)."""
        # A key only read here may be changed by the partition's next owner meanwhile.
        for key in [key for key in self._cache if self._partition_of(key) in partitions]:
            del self._cache[key]
        for partition in partitions:
            self._keys.pop(partition, None)
            self._partitions.discard(partition)
            self.dirty.pop(partition, None)
