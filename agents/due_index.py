"""When each key of a stage partition next needs a time-driven look (point-in-time and
deferred guardrail rules), held compactly: a partition can hold a million open deals.

A heap of (due, key) tuples cost about 175 B per scheduled key, the only thing in memory
that grew with every open deal. Most keys are due far ahead (a stall clock runs for
days), so only keys due within the hour stream time has reached sit in an exact heap;
the others wait packed in a bytearray per hour of due time (about 12 B plus the key's
bytes each) and move to the heap when stream time reaches their hour.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Iterator
from typing import Any

from agents.keyed_state import KeyedState

BUCKET_US = 3_600_000_000  # an hour of stream time per packed bucket
_HEAD = struct.Struct("<qI")  # due (µs), length of the key's UTF-8 bytes


class DueTimes:
    """Keys by due time for one partition: ``add`` any number of times (an earlier entry
    that is no longer the key's due time is harmless: the stage finds nothing due and
    the key is scheduled again), ``pop`` every key due by a time."""

    def __init__(self, bucket_us: int = BUCKET_US) -> None:
        self._bucket_us = bucket_us
        self._near: list[tuple[int, str]] = []  # heap of keys due before _horizon
        self._horizon = -(1 << 63)  # every bucket starting before it is in _near
        self._far: dict[int, bytearray] = {}  # bucket start -> packed (due, key)
        self._starts: list[int] = []  # heap of the starts in _far

    def add(self, due: int, key: str) -> None:
        """Remember that ``key`` is due at ``due`` (µs)."""
        if due < self._horizon:
            heapq.heappush(self._near, (due, key))
            return
        start = due - due % self._bucket_us
        packed = self._far.get(start)
        if packed is None:
            packed = self._far[start] = bytearray()
            heapq.heappush(self._starts, start)
        raw = key.encode()
        packed += _HEAD.pack(due, len(raw))
        packed += raw

    def pop(self, now: int) -> set[str]:
        """Every key due at or before ``now``, each once, forgotten here."""
        while self._starts and self._starts[0] <= now:
            start = heapq.heappop(self._starts)
            for entry in _unpack(self._far.pop(start)):
                heapq.heappush(self._near, entry)
            self._horizon = max(self._horizon, start + self._bucket_us)
        keys: set[str] = set()
        near = self._near
        while near and near[0][0] <= now:
            keys.add(heapq.heappop(near)[1])
        return keys


def _unpack(packed: bytearray) -> Iterator[tuple[int, str]]:
    view, at = memoryview(packed), 0
    while at < len(packed):
        due, size = _HEAD.unpack_from(view, at)
        at += _HEAD.size
        yield due, bytes(view[at:at + size]).decode()
        at += size


class DueIndex:
    """The due times of every key of a stage's partitions, rebuilt from the stored
    states when a partition is first used after a rebalance."""

    def __init__(self, states: KeyedState[Any], next_due: Callable[[Any], int | None]) -> None:
        self._states = states
        self._next_due = next_due
        self._partitions: dict[int, DueTimes] = {}

    def schedule(self, partition: int, key: str, state: Any) -> None:
        """Remember when ``key`` is next due (nothing when it needs no look)."""
        due = self._next_due(state)
        if due is not None:
            self._times(partition).add(due, key)

    def pop_due(self, partition: int, now: int) -> list[str]:
        """Keys of ``partition`` due at or before ``now`` (each once)."""
        return sorted(self._times(partition).pop(now))

    def revoke(self, partitions: set[int]) -> None:
        """Forget partitions this worker no longer owns."""
        for partition in partitions:
            self._partitions.pop(partition, None)

    def forget(self) -> None:
        """Forget every partition (rebuilt from the stored states when next used)."""
        self._partitions.clear()

    def _times(self, partition: int) -> DueTimes:
        times = self._partitions.get(partition)
        if times is None:
            times = self._partitions[partition] = DueTimes()
            for key, entry in self._states.stored(partition):
                due = self._next_due(entry.state)
                if due is not None:
                    times.add(due, key)
        return times
