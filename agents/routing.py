"""Records on Latitude's internal repartition topics, msgpack-encoded.

Each carries the clock its sender knew (stream time and watermark): a stage processes a
record with the record's own clock, so processing it again after a crash gives exactly
the same result. Messages between stages also carry their origin — the partition and
offset of the record whose processing sent them, and their position among its
messages — so a receiver applies each exactly once (docs/topology.md, "Delivery").
Note bodies never travel: the ingest agent judges note quality and forwards the note
with an empty body and the verdict.
"""

from __future__ import annotations

import hashlib

import msgspec

from schemas.events import Event
from streams.stages import AccountMessage, RepFigures, RepMessage


class Origin(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """Where a message comes from: ``source`` ("topic:partition") and ``offset`` of the
    record whose processing sent it, and ``seq``, its position among that record's
    messages. Per source, a receiver sees these in increasing order."""

    source: str
    offset: int
    seq: int


SEQ_BITS = 12  # messages one key may send for one record: far more than any stage does
INDEX_BITS = 20  # messages one envelope may carry (agents/outbox.py keeps far fewer)


def position(offset: int, index: int = 0) -> int:
    """Where a message sits in a partition: its record's ``offset`` and its ``index``
    in that record (an envelope carries several; any other record is one message)."""
    return (offset << INDEX_BITS) | index


def item_seq(index: int) -> int:
    """The first ``seq`` of the messages that processing envelope item ``index`` sends:
    in item order, so a receiver applies every item's messages."""
    return index << SEQ_BITS


def first_seq(key: str) -> int:
    """The first ``seq`` of the messages key ``key`` sends for a record: a tick sends
    for several keys under one offset, and each key's messages must keep one order
    whichever subset of keys a replay of that tick processes again."""
    digest = hashlib.blake2b(key.encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big") << SEQ_BITS


class EventMsg(msgspec.Struct, tag="e", array_like=True):
    """A validated input event routed to the stage that owns its key."""

    event: Event
    now: int
    watermark: int
    origin: Origin
    qualifying: bool | None = None


class DeltaMsg(msgspec.Struct, tag="d", array_like=True):
    """A change to a rep's aggregates, from the account or decision stage."""

    message: RepMessage
    now: int
    watermark: int
    origin: Origin


class AccountMsg(msgspec.Struct, tag="a", array_like=True):
    """A message for the account stage from the decision stage (a won close to judge)."""

    message: AccountMessage
    now: int
    watermark: int
    origin: Origin


class FiguresMsg(msgspec.Struct, tag="f", array_like=True):
    """A rep's current numerators and denominators for its team (None: left the team)."""

    rep_id: str
    figures: RepFigures | None
    now: int
    watermark: int


class TickMsg(msgspec.Struct, tag="t", array_like=True):
    """Sent to each owned partition on a timer: run time-driven rules and emit snapshots."""

    now: int
    watermark: int


class Envelope(msgspec.Struct, tag="b", array_like=True):
    """Messages for keys of one partition, sent at the end of the batch that produced
    them as one record instead of one record each (agents/outbox.py): ``items`` are
    (key, encoded message), each message with its own clock and origin."""

    items: list[tuple[str, msgspec.Raw]]


Routed = EventMsg | DeltaMsg | AccountMsg | FiguresMsg | TickMsg | Envelope

encoder = msgspec.msgpack.Encoder()
decoder = msgspec.msgpack.Decoder(Routed)
