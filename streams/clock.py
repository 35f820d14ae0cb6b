"""Stream time, the watermark and event-id de-duplication (docs/semantics.md, "Time").

Inside ``streams/`` every instant is an ``int`` of microseconds since the Unix epoch
(UTC) and every day an ``int`` of days since 1970-01-01 (UTC): exact, cheap to compare
and to serialise. Conversions happen once per event, at the edge.
"""

from __future__ import annotations

import datetime as dt

DAY_US = 86_400_000_000
"""Microseconds in a day."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_ORDINAL = _EPOCH.date().toordinal()
_ONE_US = dt.timedelta(microseconds=1)


def to_micros(moment: dt.datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (moment - _EPOCH) // _ONE_US


def from_micros(micros: int) -> dt.datetime:
    """The UTC datetime of a microsecond timestamp."""
    return _EPOCH + dt.timedelta(0, 0, micros)


def span_micros(days: float) -> int:
    """Microseconds in ``days`` days, rounded as ``datetime.timedelta(days=...)`` rounds."""
    return dt.timedelta(days=days) // _ONE_US


def day_of_date(date: dt.date) -> int:
    """Days since 1970-01-01 of a calendar date."""
    return date.toordinal() - _EPOCH_ORDINAL


def date_of_day(day: int) -> dt.date:
    """The calendar date of a day number."""
    return dt.date.fromordinal(day + _EPOCH_ORDINAL)


class StreamTime:
    """Stream time T (the largest event time seen, or the wall clock in live mode) and
    the watermark W = T - lateness. Before the first event both are None."""

    __slots__ = ("lateness", "now")

    def __init__(self, lateness_us: int) -> None:
        self.lateness = lateness_us
        self.now: int | None = None

    @property
    def watermark(self) -> int | None:
        """W = T - lateness, or None before the first event."""
        return None if self.now is None else self.now - self.lateness

    def is_late(self, at: int) -> bool:
        """True when an event at ``at`` lies before the watermark and must be rejected."""
        return self.now is not None and at < self.now - self.lateness

    def admit(self, at: int) -> int:
        """Judge an event at ``at``: -1 late (T unchanged), 1 if T moved to ``at``,
        else 0."""
        now = self.now
        if now is None or at > now:
            self.now = at
            return 1
        return -1 if at < now - self.lateness else 0

    def advance_to(self, at: int) -> bool:
        """Move T forward to ``at`` (never back); True when T moved."""
        if self.now is None or at > self.now:
            self.now = at
            return True
        return False


class Deduplicator:
    """Event ids already accepted, remembered while they can still arrive on time.

    Ids are grouped by the UTC day of their event time; :meth:`prune` forgets every day
    wholly before the watermark's day, so memory holds about lateness + 1 days of ids.
    An id older than the watermark needs no memory: such an event is rejected as late.
    """

    __slots__ = ("_by_day", "_seen")

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._by_day: dict[int, list[str]] = {}

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add_new(self, event_id: str, at: int) -> bool:
        """Remember ``event_id`` (occurred at ``at``); False if it was already known."""
        seen = self._seen
        if event_id in seen:
            return False
        seen.add(event_id)
        day = at // DAY_US
        ids = self._by_day.get(day)
        if ids is None:
            self._by_day[day] = [event_id]
        else:
            ids.append(event_id)
        return True

    def prune(self, watermark: int) -> None:
        """Forget ids of days wholly before the watermark's UTC day."""
        first_kept = watermark // DAY_US
        for day in [d for d in self._by_day if d < first_kept]:
            self._seen.difference_update(self._by_day.pop(day))
