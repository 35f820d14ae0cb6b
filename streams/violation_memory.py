"""A rep's memory of the violations credited to it, kept packed: the ids of the last
30 days (so each is counted once) and the last ≤ 50, newest first, for the query API.

A rep's entry is rewritten whenever anything about the rep changes, which over a
backfill is more than once per input event, and only a violation (about one event in
eleven in the bench corpus) changes this memory. Kept as structs, with each violation's
field names, it was half of a rep's record and over a third of the time spent encoding
it (docs/benchmarks.md). Packed, a rewrite copies its bytes, and each violation is an
array of its values.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.outputs import Violation
from streams.clock import DAY_US, to_micros

RECENT_MAX = 50  # recent violations kept per rep
EMPTY = b""


def _fields_of(struct: type[msgspec.Struct]) -> list[tuple[Any, ...]]:
    return [(f.name, f.type) if f.required else (f.name, f.type, f.default)
            for f in msgspec.structs.fields(struct)]


# Violation's fields, in order, stored as an array: follows the published record as it
# gains fields (a field added with a default decodes older arrays).
_Kept = msgspec.defstruct("KeptViolation", _fields_of(Violation), kw_only=True,
                          array_like=True, gc=False)


class _Memory(msgspec.Struct, array_like=True, gc=False):
    days: dict[str, int] = msgspec.field(default_factory=dict)  # violation id -> UTC day
    recent: list[_Kept] = msgspec.field(default_factory=list)  # type: ignore[valid-type]


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Memory).decode


def _unpack(packed: bytes) -> _Memory:
    return _decode(packed) if packed else _Memory()


def _order(kept: Any) -> tuple[Any, str]:
    return kept.occurred_at, kept.violation_id


def pack(days: dict[str, int], recent: list[Violation]) -> bytes:
    """The memory of these ids by day and these recent violations (newest first)."""
    kept = [_Kept(**msgspec.structs.asdict(v)) for v in recent]
    return _encode(_Memory(days, kept[:RECENT_MAX])) if days or kept else EMPTY


def credit(packed: bytes, violation: Violation) -> bytes | None:
    """The memory with ``violation`` credited, or None when it was credited before."""
    memory = _unpack(packed)
    vid = violation.violation_id
    if vid in memory.days:
        return None
    memory.days[vid] = to_micros(violation.occurred_at) // DAY_US
    recent = memory.recent
    key = violation.occurred_at, vid
    i = 0
    while i < len(recent) and _order(recent[i]) > key:
        i += 1
    if i < RECENT_MAX:
        recent.insert(i, _Kept(**msgspec.structs.asdict(violation)))
        del recent[RECENT_MAX:]
    return _encode(memory)


def forget_before(packed: bytes, first_day: int) -> bytes:
    """The memory without violations of UTC days before ``first_day`` (``packed`` itself
    when none are that old)."""
    if not packed:
        return packed
    memory = _unpack(packed)
    days = {vid: day for vid, day in memory.days.items() if day >= first_day}
    if len(days) == len(memory.days):
        return packed
    cut = first_day * DAY_US
    recent = [v for v in memory.recent if to_micros(v.occurred_at) >= cut]
    return _encode(_Memory(days, recent)) if days or recent else EMPTY


def credited(packed: bytes) -> dict[str, int]:
    """Every violation id remembered, with its UTC day."""
    return _unpack(packed).days


def recent(packed: bytes) -> list[Violation]:
    """The last ≤ RECENT_MAX violations credited, newest first."""
    return [Violation(**msgspec.structs.asdict(v)) for v in _unpack(packed).recent]
