"""From typed events to Kafka records: topic family, key, JSON value; optional injection of
bad records, duplicates and late deliveries (for tests and demos); pacing.

Keys are record ids, as CRM connectors key them (Latitude itself never relies on them):
the deal for deal updates and discounts, the note, lead or approval id, the rep for the
roster (``crm.reps`` is compacted: its key must be the rep), quotas and coaching, the
account for surveys.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from schemas import events as ev
from schemas.decode import encode

Record = tuple[str, bytes, bytes]  # (topic family, key, value)

FAMILY: dict[str, str] = {
    name: family for family, names in ev.TOPIC_TYPES.items() for name in names
}
KEY_FIELD: dict[str, str] = {
    "deal.updated": "deal_id", "discount.granted": "deal_id", "note.logged": "note_id",
    "lead.qualified": "lead_id", "approval.requested": "approval_id",
    "approval.decided": "approval_id", "quota.set": "rep_id", "rep.updated": "rep_id",
    "coaching.logged": "rep_id", "survey.submitted": "account_id",
}
# Broken payloads, one per family of defect the boundary must dead-letter (no newlines,
# so they can also go into a JSON-lines file).
BROKEN: tuple[bytes, ...] = (
    b"not json at all",
    b"[1, 2, 3]",
    b'{"type": "discount.granted", "event_id": "broken-1"}',
    b'{"type": "mystery.event", "event_id": "broken-2", "schema_version": 1}',
    b'{"type": "discount.granted", "event_id": "broken-3", "schema_version": 1, '
    b'"occurred_at": "2026-07-01T10:00:00Z", "source": "sim", "deal_id": "d", '
    b'"rep_id": "r", "discount_pct": 140, "list_amount": 100}',
)
SETUP_TYPES = frozenset({"rep.updated", "quota.set"})


def type_of(event: ev.Event) -> str:
    """The event's ``type`` tag (``deal.updated`` ...)."""
    return event.__struct_config__.tag  # type: ignore[return-value]


def to_record(event: ev.Event) -> Record:
    """The Kafka record of one event: its topic family, its record-id key, its JSON."""
    kind = type_of(event)
    return FAMILY[kind], getattr(event, KEY_FIELD[kind]).encode(), encode(event)


@dataclass(slots=True)
class Injected:
    """What was injected into a stream: broken records, duplicates, late deliveries."""

    bad: int = 0
    duplicates: int = 0
    late: int = 0


def schedule(
    events: Iterable[ev.Event],
    *,
    bad_every: int = 0,
    duplicate_every: int = 0,
    late_every: int = 0,
    late_by: dt.timedelta = dt.timedelta(days=8),
    injected: Injected | None = None,
) -> list[tuple[dt.datetime, Record]]:
    """``(delivery time, record)`` pairs in delivery order, with injections.

    Every ``late_every``-th activity event (roster and quotas excepted, and only events
    at least ``late_by`` before the last one) is delivered only once the stream has
    moved ``late_by`` past its event time (8 days: beyond the default
    7-day lateness bound, so the worker dead-letters it as ``late``). Every
    ``duplicate_every``-th event is delivered twice in a row. After every
    ``bad_every``-th record a broken one follows. ``injected`` receives the counts.
    """
    counts = injected if injected is not None else Injected()
    ordered = sorted(events, key=lambda e: e.occurred_at)
    last = ordered[-1].occurred_at if ordered else dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    out: list[tuple[dt.datetime, Record]] = []
    held: list[tuple[dt.datetime, ev.Event]] = []  # (deliver no earlier than, event)
    activity = delivered = 0
    for event in ordered:
        now = event.occurred_at
        while held and held[0][0] <= now:
            out.append((now, to_record(held.pop(0)[1])))
        if type_of(event) not in SETUP_TYPES and now + late_by <= last:
            activity += 1
            if late_every and activity % late_every == 0:
                held.append((now + late_by, event))
                counts.late += 1
                continue
        record = to_record(event)
        out.append((now, record))
        delivered += 1
        if duplicate_every and delivered % duplicate_every == 0:
            out.append((now, record))
            counts.duplicates += 1
    out.extend((last, to_record(event)) for _, event in held)
    if not bad_every:
        return out
    with_bad: list[tuple[dt.datetime, Record]] = []
    for n, (when, record) in enumerate(out, start=1):
        with_bad.append((when, record))
        if n % bad_every == 0:
            broken = BROKEN[counts.bad % len(BROKEN)]
            with_bad.append((when, (record[0], f"broken-{counts.bad}".encode(), broken)))
            counts.bad += 1
    return with_bad


def stream(
    events: Iterable[ev.Event],
    *,
    pace: str = "compressed",
    rate: float = 0.0,
    speed: float = 1.0,
    bad_every: int = 0,
    duplicate_every: int = 0,
    late_every: int = 0,
    injected: Injected | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Record]:
    """Yield ``(topic family, key, value)`` records in time order, paced.

    ``compressed``: as fast as possible, or at about ``rate`` records per second when
    ``rate > 0``. ``live``: each record waits until its event time, measured from the
    first event at the moment the stream starts, ``speed`` times faster than real time.
    Injection options as in :func:`schedule`.
    """
    if pace not in {"compressed", "live"}:
        raise ValueError(f"pace must be compressed or live, not {pace!r}")
    plan = schedule(events, bad_every=bad_every, duplicate_every=duplicate_every,
                    late_every=late_every, injected=injected)
    if not plan:
        return
    started, first = clock(), plan[0][0]
    for sent, (when, record) in enumerate(plan, start=1):
        if pace == "live":
            due = (when - first).total_seconds() / speed
        else:
            due = sent / rate if rate > 0 else 0.0
        ahead = due - (clock() - started)
        if ahead > 0:
            sleep(ahead)
        yield record
