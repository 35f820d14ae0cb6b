"""A rep's last ≤ 50 violations, newest first, for the query API, each kept packed.

A rep's entry is rewritten whenever anything about the rep changes, which over a
backfill is more than once per input event, and only a violation (about one event in
eleven in the bench corpus) changes this list. Kept as structs, with each violation's
field names, it was half of a rep's record and over a third of the time spent encoding
it (docs/benchmarks.md). Each violation is kept as the bytes of an array of its values
instead: a rewrite copies them, and a new violation decodes only the few it is placed
after (usually none but the newest: violations arrive roughly in time order).
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.outputs import Violation
from streams.clock import DAY_US, to_micros

RECENT_MAX = 50  # recent violations kept per rep


def _fields_of(struct: type[msgspec.Struct]) -> list[tuple[Any, ...]]:
    return [(f.name, f.type) if f.required else (f.name, f.type, f.default)
            for f in msgspec.structs.fields(struct)]


# Violation's fields, in order, stored as an array: follows the published record, and a
# field appended to it with a default decodes the arrays kept before (one inserted
# between others would not: append new fields).
_Kept = msgspec.defstruct("KeptViolation", _fields_of(Violation), kw_only=True,
                          array_like=True, gc=False)
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Kept).decode


def pack(violation: Violation) -> bytes:
    """The violation as kept."""
    return _encode(_Kept(**msgspec.structs.asdict(violation)))


def unpack(kept: bytes) -> Violation:
    """A kept violation as published."""
    return Violation(**msgspec.structs.asdict(_decode(kept)))


def keep(recent: list[bytes], violation: Violation) -> None:
    """Place ``violation`` in ``recent`` (kept, newest first by occurred_at then id), which
    keeps the newest RECENT_MAX; the caller credits each violation once."""
    key = violation.occurred_at, violation.violation_id
    i = 0
    while i < len(recent):
        other = _decode(recent[i])
        if (other.occurred_at, other.violation_id) < key:
            break
        i += 1
    if i < RECENT_MAX:
        recent.insert(i, pack(violation))
        del recent[RECENT_MAX:]


def since(recent: list[bytes], first_day: int) -> list[bytes]:
    """The kept violations of ``first_day`` (UTC days since the epoch) or later."""
    cut = first_day * DAY_US
    return [kept for kept in recent if to_micros(_decode(kept).occurred_at) >= cut]
