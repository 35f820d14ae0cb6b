"""Stream partitions are sought to their committed offsets before they resume.

At the end of a rebalance Faust's recovery resumes the stream partitions, then seeks
them to their committed offsets, with the consumer's flow already running (it runs to
read the changelogs). While the seek waits for the broker, the fetch loop can deliver
records from the position before it, and it marks each offset read once it is done with
it: when that happens after the seek has reset the read offsets, the records the seek
went back for are dropped as already read, and the gap they leave is committed over.
A hand-over test run lost a block of approvals that way from a partition the surviving
worker kept (crm.approvals:6, offsets 125-136). Holding the partitions paused until the
seek is done leaves the fetch loop nothing from before it; what was acknowledged on
them before the seek is dropped then (agents/stale_acks.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust.tables.recovery import Recovery

from agents.stale_acks import forget_acks

_SEEKS_FIRST = "_latitude_seeks_first"


def seek_before_resuming() -> None:
    """Make Faust's recovery resume stream partitions only after seeking them
    (idempotent)."""
    resume_streams = Recovery._resume_streams
    if getattr(resume_streams, _SEEKS_FIRST, False):
        return

    async def resume_after_seek(self: Recovery, generation_id: int = 0) -> None:
        consumer: Any = self.app.consumer
        resume, seek = consumer.resume_partitions, consumer.perform_seek
        held: set[Any] = set()

        def hold(tps: Iterable[Any]) -> None:
            held.update(tps)

        async def seek_then_resume() -> None:
            await seek()
            forget_acks(consumer, held)
            resume(held)
            held.clear()

        consumer.resume_partitions, consumer.perform_seek = hold, seek_then_resume
        try:
            await resume_streams(self, generation_id)
        finally:
            del consumer.resume_partitions, consumer.perform_seek
            if held:
                resume(held)  # the seek failed: resumed, as Faust would have left them

    setattr(resume_after_seek, _SEEKS_FIRST, True)
    Recovery._resume_streams = resume_after_seek  # type: ignore[method-assign]
