"""Faust's recovery, as patched by agents/recovery_order.py, seeks the stream partitions
before it resumes them (the fetch loop then has nothing from before the seek), and drops
what was acknowledged on them before the seek."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.tables.recovery import Recovery

from agents.recovery_order import seek_before_resuming


class FakeConsumer:
    """The consumer calls recovery makes at the end of a rebalance, in order."""

    def __init__(self, assignment: set[str]) -> None:
        self._assignment = assignment
        self.calls: list[Any] = []
        # Acknowledged before the seek (a revoke's stragglers): read again after it.
        self._acked: dict[str, list[int]] = {"crm.deals:0": [623, 624]}
        self._acked_index: dict[str, set[int]] = {"crm.deals:0": {623, 624}}
        self._gap: dict[str, Any] = {}
        self._committed_offset: dict[str, int] = {"crm.deals:0": 623}

    def assignment(self) -> set[str]:
        return self._assignment

    def resume_partitions(self, tps: set[str]) -> None:
        self.calls.append(("resume", set(tps)))

    async def perform_seek(self) -> None:
        await asyncio.sleep(0)  # the fetch loop runs meanwhile
        self.calls.append("seek")

    def resume_flow(self) -> None:
        self.calls.append("flow")


def fake_recovery(consumer: FakeConsumer) -> Any:
    async def nothing(*_: Any, **__: Any) -> None:
        return None

    async def wait(coro: Any, timeout: float) -> Any:
        return await coro

    log = SimpleNamespace(dev=print, info=print, warning=print)
    app = SimpleNamespace(
        consumer=consumer, consumer_generation_id=3,
        on_rebalance_complete=SimpleNamespace(send=nothing),
        conf=SimpleNamespace(broker_request_timeout=10.0),
        flow_control=SimpleNamespace(resume=lambda: consumer.calls.append("flow-control")),
        _fetcher=SimpleNamespace(maybe_start=nothing), on_rebalance_end=lambda: None,
    )
    return SimpleNamespace(
        app=app, log=log, completed=asyncio.Event(), _wait=wait,
        _is_changelog_tp=lambda tp: "-changelog:" in tp,
        tables=SimpleNamespace(on_actives_ready=lambda: None, on_standbys_ready=lambda: None),
    )


def test_stream_partitions_resume_only_after_the_seek() -> None:
    seek_before_resuming()
    seek_before_resuming()  # idempotent: wrapped once
    consumer = FakeConsumer({"crm.deals:0", "by-rep:1", "reps-changelog:1"})
    asyncio.run(Recovery._resume_streams(fake_recovery(consumer), 3))
    assert consumer.calls == ["seek", ("resume", {"crm.deals:0", "by-rep:1"}),
                              "flow-control", "flow"]
    assert consumer._acked == {} and consumer._acked_index == {}, "acks before the seek dropped"
    assert "resume_partitions" not in vars(consumer), "the consumer's own methods restored"
