"""Records sent straight to the producer (agents/direct_send.py): the sensors hear of
each send and its outcome, and ``on_delivered`` gets what was acknowledged."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from agents.direct_send import DirectTopic, send


class Producer:
    """aiokafka's send as Faust's producer wraps it: a future per record, settled by
    the test (acknowledged, failed or cancelled)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, int | None]] = []
        self.futures: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, *,
                   partition: int | None, timestamp: None, headers: None) -> Any:
        self.sent.append((topic, key, value, partition))
        self.futures.append(asyncio.get_running_loop().create_future())
        return self.futures[-1]


class Sensors:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int,
                          valsize: int) -> Any:
        self.calls.append(("initiated", topic, keysize, valsize))
        return f"state-{len(self.calls)}"

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        self.calls.append(("completed", state, metadata.offset))

    def on_send_error(self, producer: Any, error: BaseException, state: Any) -> None:
        self.calls.append(("error", state, str(error)))


def _app() -> Any:
    return SimpleNamespace(producer=Producer(), sensors=Sensors())


def test_an_acknowledged_record_reaches_the_sensors_and_on_delivered() -> None:
    app, delivered = _app(), []

    async def run() -> None:
        await send(app, "out", b"value", key=b"key", partition=2, on_delivered=delivered.append)
        assert delivered == []  # nothing acknowledged yet
        app.producer.futures[0].set_result(SimpleNamespace(offset=41))
        await asyncio.sleep(0)  # one turn of the loop: the done callback runs

    asyncio.run(run())
    assert app.producer.sent == [("out", b"key", b"value", 2)]
    assert app.sensors.calls == [("initiated", "out", 3, 5), ("completed", "state-1", 41)]
    assert [m.offset for m in delivered] == [41]


def test_a_failed_record_is_logged_and_counted_and_never_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, delivered = _app(), []

    async def run() -> None:
        await send(app, "out", b"v", on_delivered=delivered.append)
        app.producer.futures[0].set_exception(RuntimeError("no leader"))
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR):
        asyncio.run(run())
    assert app.sensors.calls == [("initiated", "out", 0, 1), ("error", "state-1", "no leader")]
    assert delivered == []
    assert "a record for out was not delivered" in caplog.text


def test_a_cancelled_send_reports_nothing() -> None:
    app, delivered = _app(), []

    async def run() -> None:
        await send(app, "out", b"v", on_delivered=delivered.append)
        app.producer.futures[0].cancel()
        await asyncio.sleep(0)

    asyncio.run(run())
    assert app.sensors.calls == [("initiated", "out", 0, 1)] and delivered == []


def test_a_direct_topic_sends_to_its_topic_and_lets_the_producer_partition() -> None:
    app = _app()
    asyncio.run(DirectTopic(app, "snapshots").send(key=b"rep-1", value=b"{}"))
    assert app.producer.sent == [("snapshots", b"rep-1", b"{}", None)]
