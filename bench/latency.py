"""Latency: from an event produced to the violation it causes readable on the violations
topic, with the input paced at a fixed rate.

Only discounts below the pricing floor are timed: that rule fires the moment the
discount is applied, whatever the roster says, so the wait is the pipeline's alone.

The paced producer and the watcher use librdkafka (confluent-kafka), not kafka-python:
they share the worker's two cores, and kafka-python, sending one record at a time and
polling every few milliseconds, took 68 % of a core at 1,000 events/s (confluent-kafka
about 17 %), leaving the worker short of CPU at paces it sustains alone. It is imported
where used: it comes with the bench extra, and the test suite imports this module
without it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec

from bench.three_kpis import POLICY
from simulator.feed import Record
from streams.guardrails import below_floor


def timed_event_ids(events: list[dict[str, Any]]) -> set[str]:
    """Ids of the events whose violation fires on arrival (discounts below the floor)."""
    return {
        e["event_id"] for e in events
        if e["type"] == "discount.granted" and below_floor(e["discount_pct"], POLICY)
    }


class ViolationWatch:
    """Reads a violations topic from its current end in a thread; notes when the first
    violation of each event id arrived (monotonic clock)."""

    def __init__(self, bootstrap: str, topic: str,
                 event_id_of: Callable[[bytes], str | None]) -> None:
        from confluent_kafka import Consumer, TopicPartition  # the bench extra (see above)

        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watch",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        # Start at the end as it is now, resolved before anything is timed: later
        # records are the ones we time.
        self.consumer.assign([
            TopicPartition(topic, p, self.consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=10)[1])
            for p in partitions
        ])
        self.event_id_of = event_id_of
        self.arrived: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            # One record at a time: poll returns the moment one is there.
            record = self.consumer.poll(0.05)
            if record is None or record.error() is not None:
                continue
            event_id = self.event_id_of(record.value())
            if event_id is not None:
                self.arrived.setdefault(event_id, time.monotonic())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.consumer.close()


def produce_paced(bootstrap: str, prefix: str, records: list[tuple[str, Record]],
                  rate: float) -> dict[str, float]:
    """Send ``(event_id, record)`` pairs at ``rate`` per second, one at a time (no
    batching delay); returns when each event id was first sent (monotonic clock)."""
    from confluent_kafka import Producer  # the bench extra (see above)

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    sent: dict[str, float] = {}
    started = time.monotonic()
    try:
        for n, (event_id, (family, key, value)) in enumerate(records):
            ahead = started + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            sent.setdefault(event_id, time.monotonic())
            producer.produce(prefix + family, key=key, value=value)
            producer.poll(0)  # serve delivery reports, so the queue never fills
    finally:
        if producer.flush(30):
            raise RuntimeError("the paced producer could not deliver every record in 30 s")
    return sent


class _Caused(msgspec.Struct):
    event_id: str | None = None


_caused = msgspec.json.Decoder(_Caused)


def violation_event_id(raw: bytes) -> str | None:
    """The id of the event that caused a product violation record."""
    return _caused.decode(raw).event_id


def measure(bootstrap: str, prefix: str, violations_topic: str,
            events: list[dict[str, Any]], records: list[Record], rate: float,
            timeout: float) -> dict[str, float]:
    """Latency in seconds of each timed event among ``events`` (``records`` their Kafka
    records) whose violation arrived, by event id, produced at ``rate`` per second."""
    timed = timed_event_ids(events)
    watch = ViolationWatch(bootstrap, violations_topic, violation_event_id)
    try:
        sent = produce_paced(bootstrap, prefix,
                             [(e["event_id"], r) for e, r in zip(events, records, strict=True)],
                             rate)
        deadline = time.monotonic() + timeout
        while not timed <= watch.arrived.keys() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        watch.close()
    return {e: watch.arrived[e] - sent[e] for e in timed if e in watch.arrived}
