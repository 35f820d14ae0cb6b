"""Records queued when a rebalance ends survive Faust's resume (agents/flow_control.py)."""

from __future__ import annotations

import asyncio

from mode.utils.queues import FlowControlEvent, FlowControlQueue

from agents.flow_control import keep_queued_records_on_resume


def _queue_of_two(flow_control: FlowControlEvent) -> FlowControlQueue:
    queue = FlowControlQueue(flow_control=flow_control, clear_on_resume=True)
    queue.put_nowait("record 38")
    queue.put_nowait("record 39")
    return queue


def test_plain_resume_drops_what_is_queued_which_is_what_lost_records() -> None:
    async def scenario() -> None:
        flow_control = FlowControlEvent(initially_suspended=False)
        queue = _queue_of_two(flow_control)
        flow_control.resume()
        assert queue.qsize() == 0

    asyncio.run(scenario())


def test_resume_keeps_what_is_queued_and_lets_production_go_on() -> None:
    async def scenario() -> None:
        flow_control = FlowControlEvent(initially_suspended=False)
        keep_queued_records_on_resume(flow_control)
        queue = _queue_of_two(flow_control)
        flow_control.suspend()
        assert not flow_control.is_active()
        flow_control.resume()
        assert flow_control.is_active()
        assert [queue.get_nowait(), queue.get_nowait()] == ["record 38", "record 39"]
        await asyncio.wait_for(flow_control.acquire(), 1)  # producers are not held back

    asyncio.run(scenario())


def test_an_explicit_clear_still_empties_the_queues() -> None:
    async def scenario() -> None:
        flow_control = FlowControlEvent(initially_suspended=False)
        keep_queued_records_on_resume(flow_control)
        queue = _queue_of_two(flow_control)
        flow_control.clear()  # what Faust does when partitions are revoked
        assert queue.qsize() == 0

    asyncio.run(scenario())
