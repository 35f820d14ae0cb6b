"""Note quality: the one place that reads a note body (it may hold personal data).

The body is judged and then dropped by the caller; nothing here stores, logs or returns
any part of it.
"""

from __future__ import annotations

import bisect
import string

from streams.clock import DAY_US
from streams.policy_model import NoteQuality

_EDGES = string.punctuation + string.whitespace


def normal_form(text: str) -> str:
    """Lower-cased, with punctuation and whitespace stripped from both ends."""
    return text.lower().strip(_EDGES)


def is_qualifying(body: str, quality: NoteQuality) -> bool:
    """True when the note counts as activity: non-empty, at least ``min_chars``
    characters once surrounding whitespace is stripped, and not a placeholder."""
    stripped = body.strip()
    if not stripped or len(stripped) < quality.min_chars:
        return False
    forms, longest = _placeholder_forms(quality)
    if len(stripped) > longest and stripped[0] not in _EDGES and stripped[-1] not in _EDGES:
        return True  # its normal form is itself, lower-cased: longer than any placeholder
    return normal_form(stripped) not in forms


_FORMS_CACHE: dict[frozenset[str], tuple[frozenset[str], int]] = {}


def _placeholder_forms(quality: NoteQuality) -> tuple[frozenset[str], int]:
    """The placeholders in normal form ("N/A." and "n/a" are one placeholder), and the
    length of the longest."""
    found = _FORMS_CACHE.get(quality.placeholders)
    if found is None:
        forms = frozenset(normal_form(p) for p in quality.placeholders)
        found = _FORMS_CACHE[quality.placeholders] = (forms, max(map(len, forms), default=0))
    return found


class NoteIndex:
    """When qualifying notes were logged, per account (times only, never bodies).

    ``last_day`` answers the hygiene question (a qualifying note in the last 7 days),
    ``times`` (sorted µs per account) the closed-won one (a note in a span).
    """

    __slots__ = ("last_day", "times")

    def __init__(self) -> None:
        self.last_day: dict[str, int] = {}
        self.times: dict[str, list[int]] = {}

    def add(self, account_id: str, at: int) -> None:
        """Record a qualifying note on ``account_id`` at ``at`` (µs)."""
        day = at // DAY_US
        if self.last_day.get(account_id, day - 1) < day:
            self.last_day[account_id] = day
        times = self.times.get(account_id)
        if times is None:
            self.times[account_id] = [at]
        elif at >= times[-1]:
            times.append(at)
        else:
            bisect.insort(times, at)

    def any_between(self, account_id: str, first: int, last: int) -> bool:
        """True when a qualifying note on the account occurred in ``[first, last]`` µs."""
        times = self.times.get(account_id)
        if not times:
            return False
        i = bisect.bisect_left(times, first)
        return i < len(times) and times[i] <= last

    def prune(self, first_day_kept: int, first_time_kept: int) -> None:
        """Forget last days before ``first_day_kept`` and times before ``first_time_kept``."""
        for account in [a for a, day in self.last_day.items() if day < first_day_kept]:
            del self.last_day[account]
        for account in [a for a, times in self.times.items() if times[0] < first_time_kept]:
            times = self.times[account]
            del times[: bisect.bisect_left(times, first_time_kept)]
            if not times:
                del self.times[account]
