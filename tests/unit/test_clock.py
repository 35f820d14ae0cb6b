"""Stream time, watermark, de-duplication and the time conversions (streams/clock.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from streams.clock import (
    DAY_US,
    Deduplicator,
    StreamTime,
    date_of_day,
    day_of_date,
    from_micros,
    span_micros,
    to_micros,
)

WEEK = 7 * DAY_US


def test_micros_round_trip_and_offsets() -> None:
    utc = dt.datetime(2026, 3, 10, 12, 0, 0, 123456, tzinfo=dt.UTC)
    paris = utc.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert to_micros(utc) == to_micros(paris)
    assert from_micros(to_micros(paris)) == utc
    assert from_micros(to_micros(utc)).tzinfo == dt.UTC
    assert to_micros(dt.datetime(1970, 1, 2, tzinfo=dt.UTC)) == DAY_US


def test_days_are_utc_dates() -> None:
    late_evening = dt.datetime(2026, 3, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert date_of_day(to_micros(late_evening) // DAY_US) == dt.date(2026, 3, 11)
    assert day_of_date(dt.date(1970, 1, 1)) == 0
    assert date_of_day(day_of_date(dt.date(2026, 2, 28))) == dt.date(2026, 2, 28)
    assert to_micros(dt.datetime(1969, 12, 31, 23, tzinfo=dt.UTC)) // DAY_US == -1


def test_span_rounds_like_timedelta() -> None:
    assert span_micros(7) == WEEK
    assert span_micros(0.5) == DAY_US // 2
    assert span_micros(1e-12) == dt.timedelta(days=1e-12) // dt.timedelta(microseconds=1)


class TestStreamTime:
    def test_nothing_before_the_first_event(self) -> None:
        clock = StreamTime(WEEK)
        assert clock.now is None and clock.watermark is None
        assert not clock.is_late(-(10**15))

    def test_admit_moves_forward_only_and_rejects_before_the_watermark(self) -> None:
        clock = StreamTime(WEEK)
        assert clock.admit(10 * DAY_US) == 1
        assert clock.now == 10 * DAY_US and clock.watermark == 3 * DAY_US
        assert clock.admit(9 * DAY_US) == 0  # older but on time: T stays
        assert clock.now == 10 * DAY_US
        assert clock.admit(3 * DAY_US) == 0  # exactly at W: not late
        assert clock.admit(3 * DAY_US - 1) == -1  # one µs before W: late
        assert clock.now == 10 * DAY_US
        assert clock.admit(11 * DAY_US) == 1

    def test_is_late_is_strictly_before_the_watermark(self) -> None:
        clock = StreamTime(WEEK)
        clock.advance_to(10 * DAY_US)
        assert not clock.is_late(3 * DAY_US)
        assert clock.is_late(3 * DAY_US - 1)

    def test_live_mode_advances_by_the_wall_clock_never_back(self) -> None:
        clock = StreamTime(WEEK)
        assert clock.advance_to(5 * DAY_US)
        assert not clock.advance_to(4 * DAY_US)
        assert clock.now == 5 * DAY_US
        assert clock.advance_to(6 * DAY_US) and clock.watermark == -DAY_US


class TestDeduplicator:
    def test_second_arrival_is_a_duplicate(self) -> None:
        seen = Deduplicator()
        assert seen.add_new("e1", DAY_US)
        assert not seen.add_new("e1", DAY_US)
        assert "e1" in seen and "e2" not in seen
        assert len(seen) == 1

    def test_prune_forgets_whole_days_before_the_watermark_day(self) -> None:
        seen = Deduplicator()
        seen.add_new("day1", 1 * DAY_US + 5)
        seen.add_new("day2-early", 2 * DAY_US)
        seen.add_new("day2-late", 2 * DAY_US + DAY_US - 1)
        seen.add_new("day3", 3 * DAY_US)
        seen.prune(2 * DAY_US + DAY_US // 2)  # W in the middle of day 2
        assert "day1" not in seen
        assert all(i in seen for i in ("day2-early", "day2-late", "day3"))
        assert len(seen) == 3

    @pytest.mark.parametrize("days", [30, 365])
    def test_memory_stays_bounded_by_the_lateness(self, days: int) -> None:
        seen, clock = Deduplicator(), StreamTime(WEEK)
        for n in range(days * 10):
            at = n * DAY_US // 10
            clock.advance_to(at)
            assert seen.add_new(f"e{n}", at)
            if n % 10 == 0:
                seen.prune(clock.watermark)  # type: ignore[arg-type]
        assert len(seen) <= 9 * 10  # lateness (7 d) + the current and the watermark's day
