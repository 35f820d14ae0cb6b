"""The outbox (agents/outbox.py): a batch's messages, internal ones in envelopes per
partition, in the order they were added."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from agents import outbox as outbox_module
from agents.outbox import Outbox
from agents.routing import Envelope, decoder


class Topic:
    """A Faust topic's send, recorded as (partition, key, value)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int | None, bytes | None, bytes]] = []

    async def send(self, *, value: bytes, key: bytes | None = None,
                   partition: int | None = None, **_: Any) -> None:
        self.sent.append((partition, key, value))


def _outbox() -> tuple[Outbox, dict[str, Topic]]:
    topics = {"by-rep": Topic(), "violations": Topic()}
    # Keys starting with "0" live on partition 0, the others on 1.
    box = Outbox(topics, {"by-rep"}, lambda topic, key: 0 if key.startswith(b"0") else 1)
    return box, topics


def _envelopes(topic: Topic) -> list[tuple[int | None, list[tuple[str, bytes]]]]:
    found = []
    for partition, key, value in topic.sent:
        envelope = decoder.decode(value)
        assert key is None and isinstance(envelope, Envelope)
        found.append((partition, [(k, bytes(raw)) for k, raw in envelope.items]))
    return found


def test_nothing_is_sent_before_the_flush_then_one_envelope_per_partition_in_order() -> None:
    box, topics = _outbox()
    box.add([("by-rep", b"0a", b"\x01"), ("by-rep", b"1b", b"\x02")])
    box.add([("violations", b"v1", b"{}"), ("by-rep", b"0c", b"\x03")])
    assert topics["by-rep"].sent == [] and topics["violations"].sent == []
    asyncio.run(box.flush())
    assert _envelopes(topics["by-rep"]) == [
        (0, [("0a", b"\x01"), ("0c", b"\x03")]), (1, [("1b", b"\x02")])]
    assert topics["violations"].sent == [(None, b"v1", b"{}")]
    asyncio.run(box.flush())  # sent once
    assert len(topics["by-rep"].sent) == 2 and len(topics["violations"].sent) == 1


def test_a_long_batch_is_cut_into_envelopes_that_keep_the_order(monkeypatch: Any) -> None:
    monkeypatch.setattr(outbox_module, "ENVELOPE_ITEMS", 3)
    monkeypatch.setattr(outbox_module, "ENVELOPE_BYTES", 10)
    box, topics = _outbox()
    box.add([("by-rep", f"0{n}".encode(), msgspec.msgpack.encode(f"{n:03}")) for n in range(7)])
    asyncio.run(box.flush())
    sizes = [[key for key, _ in items] for _, items in _envelopes(topics["by-rep"])]
    assert sizes == [["00", "01"], ["02", "03"], ["04", "05"], ["06"]]  # 4 bytes a message
    box.add([("by-rep", f"0{n}".encode(), msgspec.msgpack.encode("")) for n in range(7)])
    asyncio.run(box.flush())
    sizes = [[key for key, _ in items] for _, items in _envelopes(topics["by-rep"])[4:]]
    assert sizes == [["00", "01", "02"], ["03", "04", "05"], ["06"]]  # 3 items each
