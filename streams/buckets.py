"""Event-time day buckets keyed by UTC day number, summed at read time, pruned by
stream time; plus the calendar arithmetic the windows need (quarters, business days).

Buckets are plain containers of ints and floats, so they serialise as they are and cost
the garbage collector nothing: counters are ``{day * width + index: count}``, float
terms a list of ``(day, term)`` summed with :func:`math.fsum` at read time, so a figure
never depends on event order.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache
from itertools import repeat

from streams.clock import date_of_day, day_of_date

Counters = dict[int, int]  # day * width + counter index -> count (ints only: no GC cost)
Terms = list[tuple[int, float]]  # (day, term), in arrival order
# An exact running sum that also takes removals: non-overlapping floats whose exact sum
# is the sum of the floats added (Shewchuk's partials, as math.fsum keeps them), so
# ``math.fsum`` of one or several of them is the correctly rounded total, the same
# float whatever the order of additions and removals.
Partials = list[float]


def bump(counters: Counters, day: int, index: int, width: int) -> None:
    """Add 1 to counter ``index`` of ``day`` (a day holds ``width`` counters)."""
    key = day * width + index
    counters[key] = counters.get(key, 0) + 1


def count(counters: Counters, first: int, last: int, index: int, width: int) -> int:
    """Sum of counter ``index`` over days ``first..last`` inclusive."""
    # map over the keys, not a generator: every rep snapshot sums several windows.
    keys = range(first * width + index, last * width + index + 1, width)
    return sum(map(counters.get, keys, repeat(0)))


def prune_counters(counters: Counters, first_kept: int, width: int) -> None:
    """Drop every day before ``first_kept``."""
    for key in [k for k in counters if k < first_kept * width]:
        del counters[key]


def add_term(terms: Terms, day: int, term: float) -> None:
    """Record a float term on ``day``."""
    terms.append((day, term))


def fsum_count(terms: Terms, first: int, last: int) -> tuple[float, int]:
    """(exact sum, number) of the terms on days ``first..last`` inclusive."""
    picked = [term for day, term in terms if first <= day <= last]
    return math.fsum(picked), len(picked)


def prune_terms(terms: Terms, first_kept: int) -> None:
    """Drop every term of a day before ``first_kept``."""
    if terms and min(day for day, _ in terms) < first_kept:
        terms[:] = [(day, term) for day, term in terms if day >= first_kept]


def add_exact(partials: Partials, x: float) -> None:
    """Add ``x`` (or remove it, with ``-x``) to an exact running sum."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        high = x + y
        low = y - (high - x)  # exact: the rounding error of x + y
        if low:
            partials[i] = low
            i += 1
        x = high
    if x:
        partials[i:] = [x]
    else:
        del partials[i:]


def rolling(today: int, days: int) -> tuple[int, int]:
    """First and last day of the rolling window of ``days`` days ending on ``today``."""
    return today - (days - 1), today


# ----------------------------------------------------------------------------- quarters


@lru_cache(maxsize=4096)
def quarter_of(day: int) -> tuple[int, int]:
    """(year, quarter 1-4) of a day."""
    date = date_of_day(day)
    return date.year, (date.month - 1) // 3 + 1


def previous_quarter(year: int, quarter: int) -> tuple[int, int]:
    """The quarter before (year, quarter)."""
    return (year - 1, 4) if quarter == 1 else (year, quarter - 1)


@lru_cache(maxsize=1024)
def quarter_span(year: int, quarter: int) -> tuple[int, int]:
    """First and last day of a quarter."""
    first = dt.date(year, 3 * quarter - 2, 1)
    ny, nq = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    after = dt.date(ny, 3 * nq - 2, 1)
    return day_of_date(first), day_of_date(after) - 1


def period_name(year: int, quarter: int) -> str:
    """The quota period name of a quarter, ``2026-Q4``."""
    return f"{year}-Q{quarter}"


def daily_shares(quotas: dict[str, float], first: int, last: int) -> list[float]:
    """For each day ``first..last``: its quarter's quota / the quarter's length in days
    (worked out once per quarter: every rep snapshot reads 90 days of them)."""
    shares: list[float] = []
    day = first
    while day <= last:
        year, quarter = quarter_of(day)
        start, end = quarter_span(year, quarter)
        until = min(end, last)
        shares += repeat(quotas.get(period_name(year, quarter), 0.0) / (end - start + 1),
                         until - day + 1)
        day = until + 1
    return shares


# ------------------------------------------------------------------------ business days


def weekday(day: int) -> int:
    """Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


def business_days_between(start: int, end: int) -> int:
    """Mon-Fri days d with start < d <= end."""
    if end <= start:
        return 0
    weeks, rest = divmod(end - start, 7)
    total = weeks * 5
    for d in range(end - rest + 1, end + 1):
        if weekday(d) < 5:
            total += 1
    return total


def first_day_beyond(start: int, limit: float) -> int:
    """The first day d with business_days_between(start, d) > limit."""
    needed = math.floor(limit) + 1 if limit >= 0 else 0
    if needed <= 0:
        return start
    weeks, rest = divmod(needed - 1, 5)
    day = start + weeks * 7
    remaining = rest + 1
    while True:
        day += 1
        if weekday(day) < 5:
            remaining -= 1
            if remaining == 0:
                return day
