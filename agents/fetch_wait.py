"""Fetches that wait a moment for data instead of returning with the first record.

Faust creates its consumer with aiokafka's ``fetch_min_bytes`` of 1 and no setting for
it, so when input trickles in, the broker answers a fetch as soon as any record
arrives, and the consumer at once sends the next one. Every fetch request and response
lists every assigned partition (about a hundred here: input, stage and changelog
topics), encoded and decoded in pure Python on Faust's consumer thread. At 50 events/s
of paced input that thread was busier than the event loop, and the worker used 61 % of
a core; fetches that wait up to 25 ms (``LATITUDE_FETCH_WAIT_SECONDS``) for 64 KiB took
it to 35 % (58 % at 250 events/s, from 75 %). The price is in backfills: aiokafka keeps
one fetch in flight per broker, and one that went out for the quiet partitions alone
now waits out its time before partitions whose records were just taken can be fetched
again (about 10 % off the backfill rate in noisy measurements).
"""

from __future__ import annotations

import weakref
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

MIN_BYTES = 64 * 1024
_waits: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_PATCHED = "_latitude_fetch_wait"


def fetch_wait(app: Any, seconds: float) -> None:
    """Make ``app``'s consumer fetches wait up to ``seconds`` for ``MIN_BYTES`` of
    records (the broker answers at once when that much is there)."""
    _waits[app] = max(1, round(seconds * 1000))
    create = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(create, _PATCHED, False):
        return

    def create_waiting(self: AIOKafkaConsumerThread, transport: Any) -> Any:
        consumer = create(self, transport)
        wait_ms = _waits.get(self.app)
        if wait_ms is not None:
            # Read by aiokafka when the consumer starts and builds its fetcher.
            consumer._fetch_min_bytes = MIN_BYTES
            consumer._fetch_max_wait_ms = wait_ms
        return consumer

    setattr(create_waiting, _PATCHED, True)
    AIOKafkaConsumerThread._create_worker_consumer = create_waiting  # type: ignore[method-assign]
