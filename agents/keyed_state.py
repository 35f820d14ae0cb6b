"""Per-key stage state over a Faust table: decoded once, cached, written back in-stream.

Faust writes a table's changelog to the partition of the event being processed, so a
key's state is only ever written while processing a message of that key's partition
(its own message, or a tick sent to that partition). The cache holds decoded structs
so the hot path never re-decodes; revoked partitions are dropped from it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import msgspec

S = TypeVar("S")


class KeyedState(Generic[S]):
    """The states of one stage, keyed by str, stored msgpack-encoded in a Faust table."""

    def __init__(
        self,
        table: Any,
        state_type: type[S],
        partition_of: Callable[[str], int],
    ) -> None:
        self.table = table
        self._decoder = msgspec.msgpack.Decoder(state_type)
        self._encoder = msgspec.msgpack.Encoder()
        self._partition_of = partition_of
        self._cache: dict[str, S] = {}
        self._keys: dict[int, set[str]] = {}
        self._indexed: set[int] = set()
        self.dirty: dict[int, set[str]] = {}

    def get(self, key: str) -> S | None:
        """The key's state, or None when the key was never seen."""
        state = self._cache.get(key)
        if state is None:
            raw = self.table.get(key)
            if raw is None:
                return None
            state = self._cache[key] = self._decoder.decode(raw)
        return state

    def put(self, key: str, state: S, partition: int) -> None:
        """Store the key's state (in-stream only: the changelog goes to ``partition``)."""
        self._cache[key] = state
        self.table[key] = self._encoder.encode(state)
        self._keys.setdefault(partition, set()).add(key)
        self.dirty.setdefault(partition, set()).add(key)

    def keys_in(self, partition: int) -> set[str]:
        """Every key of ``partition`` this worker holds, indexing the table on first use."""
        if partition not in self._indexed:
            found = self._keys.setdefault(partition, set())
            for stored in self.table:
                # The RocksDB store hands keys back as bytes, the memory store as str.
                key = stored.decode() if isinstance(stored, bytes) else stored
                if self._partition_of(key) == partition:
                    found.add(key)
            self._indexed.add(partition)
        return self._keys[partition]

    def take_dirty(self, partition: int) -> set[str]:
        """Keys of ``partition`` changed since the last call."""
        return self.dirty.pop(partition, set())

    def items(self) -> Iterator[tuple[str, S]]:
        """All states this worker holds (for metrics and queries)."""
        for partition in list(self._keys):
            for key in list(self.keys_in(partition)):
                state = self.get(key)
                if state is not None:
                    yield key, state

    def revoke(self, partitions: set[int]) -> None:
        """Forget cached states of partitions this worker no longer owns."""
        for partition in partitions:
            for key in self._keys.pop(partition, set()):
                self._cache.pop(key, None)
            self._indexed.discard(partition)
            self.dirty.pop(partition, None)


class DueIndex:
    """When each key of a partition next needs a time-driven look (point-in-time and
    deferred guardrail rules), rebuilt from the stored states after a rebalance."""

    def __init__(self, states: KeyedState[Any], next_due: Callable[[Any], int | None]) -> None:
        self._states = states
        self._next_due = next_due
        self._heaps: dict[int, list[tuple[int, str]]] = {}

    def schedule(self, partition: int, key: str, state: Any) -> None:
        """Remember when ``key`` is next due (nothing when it needs no look)."""
        due = self._next_due(state)
        if due is not None:
            heapq.heappush(self._heap(partition), (due, key))

    def pop_due(self, partition: int, now: int) -> list[str]:
        """Keys of ``partition`` due at or before ``now`` (each once)."""
        heap = self._heap(partition)
        keys: set[str] = set()
        while heap and heap[0][0] <= now:
            keys.add(heapq.heappop(heap)[1])
        return sorted(keys)

    def revoke(self, partitions: set[int]) -> None:
        """Forget partitions this worker no longer owns."""
        for partition in partitions:
            self._heaps.pop(partition, None)

    def _heap(self, partition: int) -> list[tuple[int, str]]:
        heap = self._heaps.get(partition)
        if heap is None:
            heap = self._heaps[partition] = []
            for key in self._states.keys_in(partition):
                state = self._states.get(key)
                due = None if state is None else self._next_due(state)
                if due is not None:
                    heap.append((due, key))
            heapq.heapify(heap)
        return heap
