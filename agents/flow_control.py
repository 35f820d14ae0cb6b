"""Records fetched while a rebalance ends are processed, not dropped.

When a rebalance ends, Faust's recovery resumes the assigned partitions, seeks them to
their committed offsets, and only then calls ``app.flow_control.resume()``, which
clears every stream queue. Records fetched after the seek and still queued at that
moment are dropped, yet the fetcher has moved past them: they are never read again,
never acknowledged, and the results lose them (a block of a few records per input
partition in the hand-over test). Records of an earlier generation that a queue may
still hold are skipped by Faust's own generation check when they are taken from it, so
the clear is not needed for them; Faust acknowledges them all the same, which
agents/stale_acks.py keeps from counting toward commits.
"""

from __future__ import annotations

from mode.utils.queues import FlowControlEvent


def keep_queued_records_on_resume(flow_control: FlowControlEvent) -> None:
    """Make ``flow_control.resume()`` resume production without clearing the queues
    (``clear()`` itself, which Faust calls when partitions are revoked, is kept)."""

    def resume() -> None:
        flow_control._suspend.clear()
        flow_control._resume.set()

    flow_control.resume = resume  # type: ignore[method-assign]
