"""Rep KPI families for Prometheus, read from table state at scrape time (docs/metrics.md).

Each worker exports only the reps whose partitions it owns (revoked partitions leave the
state cache, so their series disappear). Team figures are Prometheus' job: recording
rules sum the numerators and denominators exported here.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agents.pipeline import Pipeline
from streams.policy_model import Band

SECONDS_PER_DAY = 86_400.0

# KPI name → (metric base name, unit suffix, scale applied to value and numerator).
KPI_METRICS: dict[str, tuple[str, str, float]] = {
    "autonomy_level": ("autonomy_level", "ratio", 1.0),
    "escalation_rate": ("escalation_rate", "ratio", 1.0),
    "authority_utilisation": ("authority_utilisation", "ratio", 1.0),
    "crm_hygiene": ("crm_hygiene", "ratio", 1.0),
    "pipeline_coverage": ("pipeline_coverage", "ratio", 1.0),
    "revenue_attainment": ("revenue_attainment", "ratio", 1.0),
    "expansion_share": ("expansion_share", "ratio", 1.0),
    "qualified_leads": ("qualified_leads", "per_rep", 1.0),
    "revenue_growth": ("revenue_growth", "ratio", 1.0),
    "sales_cycle_days": ("sales_cycle", "seconds", SECONDS_PER_DAY),
    "sales_cycle_yoy_change": ("sales_cycle_yoy_change", "ratio", 1.0),
    "win_rate": ("win_rate", "ratio", 1.0),
    "close_date_pushes": ("close_date_pushes", "per_deal", 1.0),
    "customer_alignment": ("customer_alignment", "ratio", 1.0),
    "coaching_adoption": ("coaching_adoption", "ratio", 1.0),
    "stalled_deals": ("stalled_deals", "count", 1.0),
    "stalled_value": ("stalled_value", "amount", 1.0),
    "critical_violations_7d": ("critical_violations_7d", "count", 1.0),
}


class KpiCollector(Collector):
    """Exports every owned rep's KPI value, numerator and denominator, and each team's
    thresholds; with ``per_rep`` off, only the team sums of numerators and denominators."""

    def __init__(self, pipeline: Pipeline, per_rep: bool) -> None:
        self._pipeline = pipeline
        self._per_rep = per_rep

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pipeline = self._pipeline
        clock = pipeline.clock_now()
        labels = ["team", "rep"] if self._per_rep else ["team"]
        families: dict[str, tuple[GaugeMetricFamily, ...]] = {
            kpi: _families(base, unit, labels) for kpi, (base, unit, _) in KPI_METRICS.items()
        }
        sums: dict[tuple[str, str], list[float]] = {}
        teams: set[str] = set()
        for rep_id, state in pipeline.reps.items():
            team = pipeline.roster.team_of(rep_id)
            teams.add(team)
            for kpi, value in pipeline.rep_stage.kpis(state, team, clock).items():
                if kpi not in KPI_METRICS:
                    continue
                scale = KPI_METRICS[kpi][2]
                numerator = value.numerator * scale
                denominator = value.denominator
                if not self._per_rep:
                    total = sums.setdefault((kpi, team), [0.0, 0.0])
                    total[0] += numerator
                    total[1] += denominator or 0.0
                    continue
                value_family, num_family, den_family = families[kpi][:3]
                if value.value is not None:
                    value_family.add_metric([team, rep_id], value.value * scale)
                num_family.add_metric([team, rep_id], numerator)
                if denominator is not None:
                    den_family.add_metric([team, rep_id], denominator)
        for (kpi, team), (numerator, denominator) in sorted(sums.items()):
            families[kpi][1].add_metric([team], numerator)
            families[kpi][2].add_metric([team], denominator)
        for kpi in KPI_METRICS:
            for team in sorted(teams):
                _thresholds(families[kpi], pipeline.policy.band(kpi, team), team, kpi)
            yield from families[kpi]
        stream_time = GaugeMetricFamily(
            "latitude_stream_time_seconds",
            "Stream time: the largest event time seen (event-time lag = time() - this).",
        )
        if clock.now:
            stream_time.add_metric([], clock.now / 1_000_000)
        yield stream_time
        owned = GaugeMetricFamily("latitude_owned_reps", "Reps whose state this worker owns.")
        owned.add_metric([], sum(1 for _ in pipeline.reps.items()))
        yield owned


def _families(base: str, unit: str, labels: list[str]) -> tuple[GaugeMetricFamily, ...]:
    name = f"latitude_{base}"
    gauge = GaugeMetricFamily
    return (
        gauge(f"{name}_{unit}", f"{base}; absent while insufficient_data.", labels=labels),
        gauge(f"{name}_numerator", f"{base} numerator (sum for teams).", labels=labels),
        gauge(f"{name}_denominator", f"{base} denominator (sum for teams).", labels=labels),
        gauge(f"{name}_target_{unit}", f"{base} target of the team.", labels=["team"]),
        gauge(f"{name}_breach_{unit}", f"{base} breach threshold of the team.", labels=["team"]),
        gauge(f"{name}_min_sample", f"{base} minimum sample of the team.", labels=["team"]),
    )


def _thresholds(
    families: tuple[GaugeMetricFamily, ...], band: Band, team: str, kpi: str
) -> None:
    scale = KPI_METRICS[kpi][2]
    if band.target is not None:
        families[3].add_metric([team], band.target * scale)
    if band.breach is not None:
        families[4].add_metric([team], band.breach * scale)
    families[5].add_metric([team], band.min_sample)
