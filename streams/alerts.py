"""In-stream KPI alerts with hysteresis: firing / resolved records, no flapping.

An alert fires when a KPI is on the bad side of its threshold: the band's breach
threshold (severity critical) or, for bands without one, its target (severity warning).
Bands without a target never alert. A firing alert resolves only when the KPI is back
past the threshold by the KPI's margin, or has stayed on the good side for the policy's
``clear_after_minutes`` of stream time; a value hovering at the threshold therefore does
not flap. ``insufficient_data`` leaves an alert as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import msgspec

from schemas.outputs import Alert, AlertState, KpiValue, Scope, Severity
from streams.policy_model import AlertRules, Band, Direction


class _Firing(msgspec.Struct, kw_only=True):
    alert_id: str
    threshold: float
    severity: Severity
    back_since: dt.datetime | None = None  # on the good side since, without the margin


def threshold_of(band: Band) -> tuple[float, Severity] | None:
    """The alerting threshold and severity of a band, None for reported-only KPIs."""
    if band.target is None:
        return None
    if band.breach is not None:
        return band.breach, Severity.CRITICAL
    return band.target, Severity.WARNING


class AlertBook:
    """Alert state per (scope, id, KPI); ``observe`` returns the transitions."""

    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self.firing: dict[tuple[str, str, str], _Firing] = {}

    def observe(
        self, scope: Scope, scope_id: str, team: str | None, kpi: str, value: KpiValue,
        band: Band, now: dt.datetime,
    ) -> Alert | None:
        """Judge one KPI value at stream time ``now``; a firing or resolved Alert, or None."""
        key = (scope.value, scope_id, kpi)
        found = threshold_of(band)
        current = self.firing.get(key)
        if found is None or value.value is None:
            return None
        threshold, severity = found
        higher = band.direction == Direction.HIGHER_IS_BETTER
        bad = value.value < threshold if higher else value.value > threshold
        if current is None:
            if not bad:
                return None
            alert_id = f"{scope.value}:{scope_id}:{kpi}:{now.isoformat()}"
            self.firing[key] = _Firing(alert_id=alert_id, threshold=threshold,
                                       severity=severity)
            return self._alert(AlertState.FIRING, self.firing[key], kpi, scope, scope_id,
                               team, value.value, now)
        if bad:
            current.back_since = None
            return None
        margin = self.rules.margins.get(kpi, 0.0)
        cleared = (value.value >= threshold + margin if higher
                   else value.value <= threshold - margin)
        if current.back_since is None:
            current.back_since = now
        waited = now - current.back_since >= dt.timedelta(
            minutes=self.rules.clear_after_minutes)
        if not (cleared or waited):
            return None
        del self.firing[key]
        return self._alert(AlertState.RESOLVED, current, kpi, scope, scope_id, team,
                           value.value, now)

    def observe_all(
        self, scope: Scope, scope_id: str, team: str | None, kpis: dict[str, KpiValue],
        band_of: Callable[[str], Band], now: dt.datetime,
    ) -> list[Alert]:
        """``observe`` every KPI of one rep or team; the transitions, in KPI order."""
        out = []
        for kpi, value in kpis.items():
            alert = self.observe(scope, scope_id, team, kpi, value, band_of(kpi), now)
            if alert is not None:
                out.append(alert)
        return out

    @staticmethod
    def _alert(state: AlertState, firing: _Firing, kpi: str, scope: Scope, scope_id: str,
               team: str | None, value: float, now: dt.datetime) -> Alert:
        return Alert(
            alert_id=firing.alert_id, state=state, kpi=kpi, scope=scope, id=scope_id,
            team=team, severity=firing.severity, value=value, threshold=firing.threshold,
            stream_time=now,
        )
