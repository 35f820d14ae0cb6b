"""``latitude_consumer_lag_messages{topic,partition}``: how far this worker's consumer is
behind the end of each input partition it is assigned.

/metrics is served on the event loop, so the collector must not wait for Kafka: a Faust
timer refreshes the figures (the consumer's position is an await on its thread) and the
collector only reads the cached result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REFRESH_SECONDS = 5.0


class ConsumerLag(Collector):
    """Lag per assigned input partition: high watermark minus the consumer's position."""

    def __init__(self, families: Mapping[str, str]) -> None:
        self._families = families  # full topic name → family (the `topic` label)
        self._lag: dict[tuple[str, int], int] = {}

    async def refresh(self, consumer: Any) -> None:
        """Recompute the lag of every assigned input partition (partitions this worker
        no longer holds disappear)."""
        lag: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            family = self._families.get(tp.topic)
            if family is None:
                continue
            highwater = consumer.highwater(tp)  # cached from the last fetch: no request
            position = await consumer.position(tp)
            if highwater is None or position is None:
                continue
            lag[family, tp.partition] = max(highwater - position, 0)
        self._lag = lag

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "latitude_consumer_lag_messages",
            "Messages of an assigned input partition not yet fetched by this worker.",
            labels=["topic", "partition"],
        )
        for (topic, partition), lag in sorted(self._lag.items()):
            family.add_metric([topic, str(partition)], lag)
        yield family
