"""In-stream alerts with hysteresis (streams/alerts.py)."""

from __future__ import annotations

import datetime as dt

from schemas.outputs import AlertState, KpiValue, Scope, Severity, Status
from streams.alerts import AlertBook, threshold_of
from streams.kpis import judge
from streams.policy_model import AlertRules, Band, Direction

AUTONOMY = Band(0.80, 0.50, Direction.HIGHER_IS_BETTER, 5)
STALLED = Band(0, None, Direction.LOWER_IS_BETTER, 0)
CRITICALS = Band(0, 0, Direction.LOWER_IS_BETTER, 0)
REPORTED = Band(None, None, Direction.HIGHER_IS_BETTER, 5)
T0 = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
RULES = AlertRules(clear_after_minutes=60, margins={"autonomy_level": 0.02})


def value(v: float | None) -> KpiValue:
    status = Status.INSUFFICIENT_DATA if v is None else Status.OK
    return KpiValue(value=v, numerator=0.0, denominator=1.0, target=None, status=status)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def observe(book: AlertBook, v: float | None, minutes: float, band: Band = AUTONOMY,
            kpi: str = "autonomy_level"):
    return book.observe(Scope.REP, "r1", "amer", kpi, value(v), band, at(minutes))


def test_thresholds() -> None:
    assert threshold_of(AUTONOMY) == (0.50, Severity.CRITICAL)
    assert threshold_of(STALLED) == (0, Severity.WARNING)
    assert threshold_of(REPORTED) is None


def test_fires_once_on_breach_then_resolves_past_the_margin() -> None:
    book = AlertBook(RULES)
    assert observe(book, 0.60, 0) is None  # warning band: no alert
    fired = observe(book, 0.49, 1)
    assert fired is not None and fired.state == AlertState.FIRING
    assert fired.severity == Severity.CRITICAL and fired.threshold == 0.50
    assert fired.alert_id == f"rep:r1:autonomy_level:{at(1).isoformat()}"
    assert observe(book, 0.40, 2) is None  # still firing: nothing new
    resolved = observe(book, 0.52, 3)
    assert resolved is not None and resolved.state == AlertState.RESOLVED
    assert resolved.alert_id == fired.alert_id and resolved.value == 0.52


def test_a_value_hovering_at_the_threshold_does_not_flap() -> None:
    book = AlertBook(RULES)
    transitions = []
    for minute, v in enumerate([0.49, 0.50, 0.499, 0.51, 0.495, 0.505, 0.49, 0.515] * 3):
        alert = observe(book, v, minute * 5)  # never 60 min in a row on the good side
        if alert is not None:
            transitions.append(alert.state)
    assert transitions == [AlertState.FIRING]


def test_staying_back_long_enough_resolves_without_the_margin() -> None:
    book = AlertBook(RULES)
    observe(book, 0.49, 0)
    assert observe(book, 0.50, 10) is None  # back, but within the margin
    assert observe(book, 0.51, 40) is None
    assert observe(book, 0.49, 50) is None  # bad again: the clock restarts
    assert observe(book, 0.505, 60) is None
    assert observe(book, 0.505, 119) is None
    resolved = observe(book, 0.505, 120)
    assert resolved is not None and resolved.state == AlertState.RESOLVED


def test_insufficient_data_changes_nothing() -> None:
    book = AlertBook(RULES)
    assert observe(book, None, 0) is None
    observe(book, 0.1, 1)
    assert observe(book, None, 500) is None
    assert ("rep", "r1", "autonomy_level") in book.firing


def test_lower_is_better_and_target_only_bands() -> None:
    book = AlertBook(RULES)
    fired = observe(book, 2, 0, band=STALLED, kpi="stalled_deals")
    assert fired is not None and fired.severity == Severity.WARNING
    resolved = observe(book, 0, 1, band=STALLED, kpi="stalled_deals")  # margin 0
    assert resolved is not None and resolved.state == AlertState.RESOLVED
    assert observe(book, 0, 2, band=CRITICALS, kpi="critical_violations_7d") is None
    assert observe(book, 1, 3, band=CRITICALS, kpi="critical_violations_7d") is not None


def test_reported_only_kpis_never_alert() -> None:
    book = AlertBook(RULES)
    assert observe(book, 0.0, 0, band=REPORTED, kpi="win_rate") is None
    assert not book.firing


def test_observe_all_uses_each_kpis_band() -> None:
    book = AlertBook(RULES)
    kpis = {"autonomy_level": judge(1, 5, AUTONOMY), "win_rate": judge(0, 5, REPORTED)}
    bands = {"autonomy_level": AUTONOMY, "win_rate": REPORTED}
    alerts = book.observe_all(Scope.TEAM, "amer", "amer", kpis, bands.__getitem__, at(0))
    assert [(a.kpi, a.state, a.scope) for a in alerts] == [
        ("autonomy_level", AlertState.FIRING, Scope.TEAM)]
