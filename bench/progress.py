"""How far a consumer group has got: its committed offsets against the topics' ends.

Every contender that runs in its own process is watched the same way, from the broker
side, so no contender pays for being measured: the run starts when the group first
commits progress and ends when its commits cover every record. Both ends lag the real
moment by up to one commit interval, so the difference is unbiased on average.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Span:
    """When a contender started and finished consuming, on the monotonic clock, and the
    CPU seconds its process used in between (None: not measured)."""

    first: float
    done: float
    cpu: float | None = None

    @property
    def seconds(self) -> float:
        return self.done - self.first


class GroupProgress:
    """Committed offsets of consumer groups and end offsets of topics, on one broker."""

    def __init__(self, bootstrap: str) -> None:
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-progress")
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-progress")

    def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """Every partition of ``topics``."""
        found = []
        for topic in topics:
            for partition in self.consumer.partitions_for_topic(topic) or ():
                found.append(TopicPartition(topic, partition))
        return found

    def ends(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset after the last record of each partition."""
        return dict(self.consumer.end_offsets(partitions))

    def committed(self, group: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offsets (0 where it has committed nothing)."""
        try:
            offsets = self.admin.list_group_offsets({group: partitions}).get(group, {})
        except KafkaError as error:
            if not error.retriable:
                raise
            offsets = {}  # the group (or its coordinator) does not exist yet
        return {tp: max(0, offsets[tp].offset) if tp in offsets else 0 for tp in partitions}

    def group_lag(self, group: str) -> int:
        """Records not committed yet in every partition the group has committed in
        (-1: not known yet)."""
        try:
            offsets = self.admin.list_group_offsets({group: None}).get(group, {})
        except KafkaError as error:
            if not error.retriable:
                raise
            return 0
        try:
            ends = self.ends(list(offsets))
        except (KeyError, KafkaError):
            return -1  # a topic the group just created has no metadata here yet
        return sum(max(0, end - offsets[tp].offset) for tp, end in ends.items())

    def lag(self, group: str, partitions: list[TopicPartition]) -> int:
        """Records of ``partitions`` the group has not committed yet."""
        ends = self.ends(partitions)
        committed = self.committed(group, partitions)
        return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())

    def watch(
        self,
        group: str,
        inputs: list[TopicPartition],
        *,
        timeout: float,
        drained: Callable[[], bool] = lambda: True,
        alive: Callable[[], bool] = lambda: True,
        cpu: Callable[[], float] | None = None,
    ) -> Span:
        """Poll until ``group`` has committed every record of ``inputs`` and
        ``drained()`` holds (a topology's internal topics caught up too); ``cpu()``, the
        contender's CPU seconds so far, is read at both ends of the span.

        Raises TimeoutError after ``timeout`` seconds, RuntimeError when ``alive()``
        turns False (the contender died)."""
        ends = self.ends(inputs)
        deadline = time.monotonic() + timeout
        first: float | None = None
        cpu_at_first = 0.0
        while True:
            if not alive():
                raise RuntimeError(f"{group}: the contender exited before finishing")
            committed = self.committed(group, inputs)
            now = time.monotonic()
            if first is None and any(committed.values()):
                first = now
                cpu_at_first = cpu() if cpu else 0.0
            caught_up = all(committed[tp] >= end for tp, end in ends.items())
            if first is not None and caught_up and drained():
                used = cpu() - cpu_at_first if cpu else None
                return Span(first, time.monotonic(), used)
            if now > deadline:
                behind = sum(end - committed[tp] for tp, end in ends.items())
                raise TimeoutError(f"{group}: {behind} records still uncommitted after "
                                   f"{timeout:.0f} s")
            time.sleep(POLL_SECONDS)

    def close(self) -> None:
        self.admin.close()
        self.consumer.close()
