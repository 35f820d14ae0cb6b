"""Consuming a Faust stream in batches, each acknowledged only once wholly processed.

``stream.take_events`` acknowledges a batch in a ``finally``, so a batch cut short (an
exception, or the agent cancelled mid-way) would still be acknowledged and its offsets
committed, losing the records not yet processed (faust-streaming issue #315). A batch
that does not finish therefore ends the process at once, before any commit: the next
worker replays it (and, the stop being unclean, rebuilds its tables from the
changelogs, agents/local_state.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable

import faust

from agents.time_slice import TimeSlice

log = logging.getLogger(__name__)
EXIT_BATCH_CUT_SHORT = 70  # EX_SOFTWARE


async def consume(
    stream: faust.StreamT,
    batch_max: int,
    batch_seconds: float,
    handle: Callable[[faust.EventT], Awaitable[None]],
    flush: Callable[[], Awaitable[None]],
) -> None:
    """Pass every event of ``stream`` to ``handle``, in batches of at most ``batch_max``
    (waiting at most ``batch_seconds`` for one to fill), calling ``flush`` after each
    batch, before it is acknowledged. A long batch lets the other agents run between
    its events (agents/time_slice.py)."""
    async for batch in stream.take_events(batch_max, batch_seconds):
        turn = TimeSlice()
        try:
            for event in batch:
                await handle(event)
                await turn.check()
            await flush()
        except BaseException as error:
            log.critical(
                "a batch of %d records was cut short by %r; exiting without committing "
                "so that they are processed again", len(batch), error, exc_info=True,
            )
            logging.shutdown()
            os._exit(EXIT_BATCH_CUT_SHORT)
