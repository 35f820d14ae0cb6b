"""Records on Latitude's internal repartition topics, msgpack-encoded.

Each carries the stream time its sender knew, so a stage never runs behind the stream
it is fed from. Note bodies never travel: the ingest agent judges note quality and
forwards the note with an empty body and the verdict.
"""

from __future__ import annotations

import msgspec

from schemas.events import Event
from streams.stages import AccountMessage, RepFigures, RepMessage


class EventMsg(msgspec.Struct, tag="e", array_like=True):
    """A validated input event routed to the stage that owns its key."""

    event: Event
    now: int
    qualifying: bool | None = None


class DeltaMsg(msgspec.Struct, tag="d", array_like=True):
    """A change to a rep's aggregates, from the account or decision stage."""

    message: RepMessage
    now: int


class AccountMsg(msgspec.Struct, tag="a", array_like=True):
    """A message for the account stage from the decision stage (a won close to judge)."""

    message: AccountMessage
    now: int


class FiguresMsg(msgspec.Struct, tag="f", array_like=True):
    """A rep's current numerators and denominators for its team (None: left the team)."""

    rep_id: str
    figures: RepFigures | None
    now: int


class TickMsg(msgspec.Struct, tag="t", array_like=True):
    """Sent to each owned partition on a timer: run time-driven rules and emit snapshots."""

    now: int


Routed = EventMsg | DeltaMsg | AccountMsg | FiguresMsg | TickMsg

encoder = msgspec.msgpack.Encoder()
decoder = msgspec.msgpack.Decoder(Routed)
