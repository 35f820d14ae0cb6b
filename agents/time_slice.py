"""Handing the event loop to the other agents when one has held it for a while.

Every agent runs on the worker's one event loop, and a send to Kafka rarely suspends:
a batch of snapshot ticks, or the writes of a batch that changed many large states,
ran to its end without letting the decision stage take its records, whose violations
waited behind it. Yielding after a short slice of work bounds that wait by the slice
instead of the batch.
"""

from __future__ import annotations

import asyncio
import time

SLICE_SECONDS = 0.005  # about one batch window: the wait a stage adds anyway


class TimeSlice:
    """One task's turn on the event loop, from its creation or its last yield."""

    def __init__(self, seconds: float = SLICE_SECONDS) -> None:
        self._seconds = seconds
        self._until = time.monotonic() + seconds

    async def check(self) -> None:
        """Let every other ready task run once this turn has lasted its slice."""
        if time.monotonic() >= self._until:
            await asyncio.sleep(0)
            self._until = time.monotonic() + self._seconds
