"""Turns on the event loop (agents/time_slice.py): a task that held the loop for its
slice lets the other ready tasks run; within its slice it keeps the loop."""

from __future__ import annotations

import asyncio

from agents.time_slice import TimeSlice


def _run(turn_seconds: float) -> list[str]:
    log: list[str] = []

    async def other() -> None:
        log.append("other")

    async def main() -> None:
        turn = TimeSlice(turn_seconds)
        task = asyncio.get_running_loop().create_task(other())  # ready, not run yet
        log.append("before")
        await turn.check()
        log.append("after")
        await task

    asyncio.run(main())
    return log


def test_a_turn_that_lasted_its_slice_lets_the_other_ready_tasks_run() -> None:
    assert _run(0.0) == ["before", "other", "after"]


def test_a_turn_within_its_slice_keeps_the_loop() -> None:
    assert _run(3600.0) == ["before", "after", "other"]
