"""The boundary: decode and validate one raw input record, exactly once.

The happy path is one call of a compiled ``msgspec`` decoder plus two cheap checks (the
record's topic and its event-time window). Working out *why* a record failed happens
only on the error path, in :func:`schemas.errors.diagnose`.

Reasons, highest precedence first (the first that applies is the one reported):

1. ``oversized`` — more bytes than ``max_bytes`` (checked before parsing; a note body
   over 100 000 characters in a record under the limit is ``out_of_range``).
2. ``invalid_utf8``. Invalid bytes only inside a field Latitude does not read are
   skipped unread: they do not reject an otherwise valid record (no second pass).
3. ``not_json`` — malformed, truncated, empty (or a tombstone), or nested too deeply.
4. ``non_finite_number`` — a ``NaN`` / ``Infinity`` / ``-Infinity`` literal, or a
   number that overflows a 64-bit float (``1e999``; skipped in a field not read).
5. ``not_object`` — the top level is not a JSON object.
6. ``missing_field`` / ``wrong_type`` for ``type``, then ``unknown_type``.
7. ``wrong_topic`` — a known type on a topic of another family.
8. ``missing_field`` / ``wrong_type`` for ``schema_version``, then
   ``unknown_schema_version``.
9. The first field error the compiled decoder meets (document order, missing fields
   last): ``missing_field``, ``wrong_type``,
   ``out_of_range`` (bounds, too long), ``invalid_value`` (enum, pattern, empty string),
   ``timestamp_without_zone``, ``invalid_timestamp`` (date-times and dates).
10. ``absurd_timestamp`` — ``occurred_at`` (or a deal's ``created_at``) outside the window.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import msgspec

from schemas.errors import InvalidEvent, Reason, diagnose, oversized, wrong_topic
from schemas.events import EVENT_TYPES, TOPIC_TYPES, DealUpdated, Event

__all__ = [
    "EVENT_TIME_WINDOW",
    "MAX_EVENT_BYTES",
    "InvalidEvent",
    "Reason",
    "TimeWindow",
    "decode",
    "encode",
]

MAX_EVENT_BYTES = 1_048_576


class TimeWindow(NamedTuple):
    """The event times Latitude believes: ``start <= t < end``."""

    start: dt.datetime
    end: dt.datetime


EVENT_TIME_WINDOW = TimeWindow(
    dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
)

_decode_json = msgspec.json.Decoder(Event).decode
# Deterministic key order, so a replayed output record is byte-identical to the first.
_ENCODER = msgspec.json.Encoder(order="deterministic")
# Everything bad input makes the hot path raise: msgspec's errors, UnicodeDecodeError (a
# ValueError) for invalid UTF-8 in a string it reads, RecursionError for deep nesting,
# TypeError for a record without a value (a tombstone).
_DECODE_FAILURES = (msgspec.DecodeError, ValueError, RecursionError, TypeError)
_FAMILY_OF: dict[type, str] = {
    EVENT_TYPES[name]: family for family, names in TOPIC_TYPES.items() for name in names
}


def decode(
    raw: bytes,
    topic_family: str | None = None,
    *,
    max_bytes: int = MAX_EVENT_BYTES,
    window: TimeWindow = EVENT_TIME_WINDOW,
) -> Event:
    """The typed event in ``raw``, or :class:`InvalidEvent` saying why it is rejected.

    ``topic_family`` is the default name of the topic the record came from
    (``crm.deals`` ...); None skips the topic check.
    """
    try:
        if len(raw) > max_bytes:
            raise oversized(len(raw), max_bytes)
        event = _decode_json(raw)
    except _DECODE_FAILURES as error:
        raise diagnose(raw, error, topic_family) from None
    if topic_family is not None and _FAMILY_OF[type(event)] != topic_family:
        raise wrong_topic(event.__struct_config__.tag, topic_family)
    start, end = window
    if not start <= event.occurred_at < end:
        raise _absurd("occurred_at", event.occurred_at, window)
    if type(event) is DealUpdated and not start <= event.created_at < end:
        raise _absurd("created_at", event.created_at, window)
    return event


def encode(record: Any) -> bytes:
    """JSON bytes of an output record (or an event), keys in a stable order."""
    return _ENCODER.encode(record)


def _absurd(field: str, value: dt.datetime, window: TimeWindow) -> InvalidEvent:
    return InvalidEvent(
        Reason.ABSURD_TIMESTAMP,
        f"$.{field}: {value.isoformat()} is outside "
        f"[{window.start.isoformat()}, {window.end.isoformat()})",
    )
