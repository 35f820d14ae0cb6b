"""Baseline (a), the ceiling: one aiokafka consumer that only fetches and decodes.

The same boundary decoder as the product (``schemas.decode.decode``) on every record of
every input topic, nothing else: no state, no output. Timed in process, from the first
record fetched to the last one decoded.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer

from bench.progress import Span
from schemas.decode import decode


async def _consume(bootstrap: str, topics: list[str], prefix: str, total: int,
                   group: str) -> Span:
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen, first = 0, 0.0
        while seen < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                first = first or time.monotonic()
                family = tp.topic[len(prefix):]
                for record in records:
                    decode(record.value, family)
                seen += len(records)
        return Span(first, time.monotonic())
    finally:
        await consumer.stop()


def raw_ceiling(bootstrap: str, topics: list[str], prefix: str, total: int,
                group: str, timeout: float) -> Span:
    """Fetch and decode ``total`` records of ``topics`` (names start with ``prefix``)."""
    return asyncio.run(asyncio.wait_for(
        _consume(bootstrap, topics, prefix, total, group), timeout))
