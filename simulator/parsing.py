"""Parsing the cell values of real CRM exports: dates in either day/month order, amounts
with thousands separators and currency signs, yes/no flags.

Every parser raises ``ValueError`` with a short, human reason when a value cannot be read;
empty cells are the caller's business (they mean "not set", which each column treats in
its own documented way).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from zoneinfo import ZoneInfo

DATE_ORDERS = ("dmy", "mdy")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_NUMERIC = re.compile(
    r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})"
    r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$"
)
_CURRENCY = re.compile(r"^[A-Z]{3}\s*|\s*[A-Z]{3}$|[$€£¥\u00a0]")
_TRUE = frozenset({"true", "1", "yes", "y", "t", "x"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def zone(name: str) -> dt.tzinfo:
    """The time zone called ``name`` (``UTC`` or an IANA name such as Europe/Paris)."""
    return dt.UTC if name.upper() in {"UTC", "Z", "GMT"} else ZoneInfo(name)


def parse_datetime(text: str, order: str, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """A timezone-aware date-time from an ISO 8601 value or a numeric ``d/m/y`` or
    ``m/d/y`` one (``order``), with an optional ``HH:MM[:SS] [AM|PM]``.

    A value without an offset is in ``tz``; a date alone means its midnight. The result is
    in UTC.
    """
    value = text.strip()
    if _ISO.match(value):
        try:
            parsed = dt.datetime.fromisoformat(value.replace(" ", "T", 1))
        except ValueError:
            raise ValueError(f"{value!r} is not a valid ISO 8601 date") from None
    else:
        parsed = _numeric(value, order)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(dt.UTC)


def parse_date(text: str, order: str) -> dt.date:
    """The calendar date of a date or date-time value, as written (a time part is
    ignored, not converted: a close date is a calendar date)."""
    value = text.strip()
    if _ISO.match(value):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            raise ValueError(f"{value!r} is not a valid ISO 8601 date") from None
    return _numeric(value, order).date()


def _numeric(value: str, order: str, hint: bool = True) -> dt.datetime:
    match = _NUMERIC.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a date ({_expected(order)})")
    first, second, year_text, hour, minute, second_s, meridiem = match.groups()
    day, month = (first, second) if order == "dmy" else (second, first)
    year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    h = int(hour or 0)
    if meridiem:
        if not 1 <= h <= 12:
            raise ValueError(f"{value!r}: hour {h} with {meridiem.upper()}")
        h = h % 12 + (12 if meridiem.lower() == "pm" else 0)
    try:
        return dt.datetime(year, int(month), int(day), h, int(minute or 0), int(second_s or 0))
    except ValueError as error:
        other = "mdy" if order == "dmy" else "dmy"
        extra = ""
        if hint:
            try:
                _numeric(value, other, hint=False)
                extra = f"; it reads as {other}: check the date order"
            except ValueError:
                pass
        raise ValueError(f"{value!r} is not a valid {order} date ({error}){extra}") from None


def _expected(order: str) -> str:
    sample = "31/12/2026" if order == "dmy" else "12/31/2026"
    return f"expected YYYY-MM-DD or {sample}"


def parse_amount(text: str, decimal: str = ".") -> float | None:
    """A non-negative amount, or None for an empty cell. Currency signs and codes and
    thousands separators (``,`` or ``.`` — whichever is not ``decimal`` —, spaces,
    apostrophes) are ignored."""
    value = _CURRENCY.sub("", text.strip()).strip()
    if not value:
        return None
    thousands = "." if decimal == "," else ","
    cleaned = value.replace(" ", "").replace("'", "").replace(thousands, "")
    cleaned = cleaned.replace(decimal, ".")
    try:
        amount = float(cleaned)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not an amount") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"{text.strip()!r} is not a non-negative finite amount")
    return amount


def parse_flag(text: str) -> bool | None:
    """True / False from the usual spellings (true, 1, yes, x ...), None when empty."""
    value = text.strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{text.strip()!r} is not a yes/no value")
