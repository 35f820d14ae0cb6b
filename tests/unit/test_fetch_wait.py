"""The worker's consumer fetches wait a batch window for data (agents/fetch_wait.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from agents.fetch_wait import MIN_BYTES, fetch_wait


def fetch_options(app: faust.App) -> tuple[int, int]:
    """(fetch_min_bytes, fetch_max_wait_ms) of the consumer Faust builds for ``app``."""

    async def build() -> tuple[int, int]:
        consumer: Any = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return consumer._fetch_min_bytes, consumer._fetch_max_wait_ms
        finally:
            await consumer.stop()

    return asyncio.run(build())


def test_fetches_wait_the_batch_window_for_min_bytes_on_that_app_only() -> None:
    waiting = faust.App("fetch-wait-test", broker="kafka://127.0.0.1:1")
    fetch_wait(waiting, 0.025)
    fetch_wait(waiting, 0.025)  # idempotent
    untouched = faust.App("fetch-wait-untouched", broker="kafka://127.0.0.1:1")
    assert fetch_options(waiting) == (MIN_BYTES, 25)
    assert fetch_options(untouched) == (1, 1500)  # Faust's own
