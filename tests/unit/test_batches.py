"""Batched consumption (agents/batches.py): flushed before acknowledgement, and a batch
cut short ends the process instead of being acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents import batches


class Stream:
    """A Faust stream's ``take_events``, acknowledging each batch when it is resumed
    (Faust acknowledges in a ``finally`` after the yield)."""

    def __init__(self, batches_: list[list[int]], log: list[str]) -> None:
        self._batches = batches_
        self._log = log

    async def take_events(self, max_: int, within: float) -> AsyncIterator[list[int]]:
        for batch in self._batches:
            try:
                yield batch
            finally:
                self._log.append(f"ack {batch}")


def _run(stream: Stream, handle: Any, flush: Any) -> None:
    asyncio.run(batches.consume(stream, 10, 0.01, handle, flush))  # type: ignore[arg-type]


def test_each_batch_is_flushed_after_its_events_and_before_it_is_acknowledged() -> None:
    log: list[str] = []

    async def handle(event: int) -> None:
        log.append(f"event {event}")

    async def flush() -> None:
        log.append("flush")

    _run(Stream([[1, 2], [3]], log), handle, flush)
    assert log == ["event 1", "event 2", "flush", "ack [1, 2]", "event 3", "flush", "ack [3]"]


def test_a_batch_cut_short_exits_before_it_is_acknowledged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[str] = []

    class Exited(BaseException):
        pass

    def exit_now(code: int) -> None:
        log.append(f"exit {code}")
        raise Exited

    monkeypatch.setattr(batches.os, "_exit", exit_now)
    monkeypatch.setattr(batches.logging, "shutdown", lambda: None)  # pytest's handlers

    async def handle(event: int) -> None:
        if event == 2:
            raise asyncio.CancelledError
        log.append(f"event {event}")

    async def flush() -> None:
        log.append("flush")

    with pytest.raises(Exited):
        _run(Stream([[1, 2, 3]], log), handle, flush)
    # The acknowledgement in the real take_events' finally would run only after this.
    assert log[:2] == ["event 1", f"exit {batches.EXIT_BATCH_CUT_SHORT}"]
