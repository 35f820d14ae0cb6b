"""Latency: from an event produced to the violation it causes readable on the violations
topic, with the input paced at a fixed rate.

Only discounts below the pricing floor are timed: that rule fires the moment the
discount is applied, whatever the roster says, so the wait is the pipeline's alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

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
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=5,
                                      enable_auto_commit=False)
        partitions = [TopicPartition(topic, p)
                      for p in self.consumer.partitions_for_topic(topic) or ()]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end now: later records are the ones we time
            self.consumer.position(tp)
        self.event_id_of = event_id_of
        self.arrived: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self.consumer.poll(timeout_ms=50).values():
                now = time.monotonic()
                for record in records:
                    event_id = self.event_id_of(record.value)
                    if event_id is not None:
                        self.arrived.setdefault(event_id, now)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.consumer.close()


def produce_paced(bootstrap: str, prefix: str, records: list[tuple[str, Record]],
                  rate: float) -> dict[str, float]:
    """Send ``(event_id, record)`` pairs at ``rate`` per second, one at a time (no
    batching delay); returns when each event id was first sent (monotonic clock)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    sent: dict[str, float] = {}
    started = time.monotonic()
    try:
        for n, (event_id, (family, key, value)) in enumerate(records):
            ahead = started + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            sent.setdefault(event_id, time.monotonic())
            producer.send(prefix + family, key=key, value=value)
    finally:
        producer.flush()
        producer.close()
    return sent


class _Caused(msgspec.Struct):
    event_id: str | None = None


_caused = msgspec.json.Decoder(_Caused)


def violation_event_id(raw: bytes) -> str | None:
    """The id of the event that caused a product violation record."""
    return _caused.decode(raw).event_id


def measure(bootstrap: str, prefix: str, violations_topic: str,
            events: list[dict[str, Any]], records: list[Record], rate: float,
            timeout: float) -> list[float]:
    """Latencies in seconds of the timed events among ``events`` (``records`` their
    Kafka records), produced at ``rate`` per second."""
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
    return [watch.arrived[e] - sent[e] for e in timed if e in watch.arrived]
