"""Rep and team families for Prometheus, read from table state at scrape time
(docs/metrics.md): KPIs, prior-year sales-cycle sums, guardrail violations, last
activity, rep info, team thresholds and stalled high-value clusters.

Each worker exports only the reps (and teams) whose partitions it owns: revoked
partitions leave the state cache, so their series disappear. Team KPI figures are
Prometheus' job: recording rules sum the numerators and denominators exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams import kpis as k
from streams.guardrails import SEVERITY
from streams.policy_model import Band, Policy
from streams.stages import UNASSIGNED, Clock, RepStage, RepState, RosterEntry, TeamStage, TeamState

SECONDS_PER_DAY = 86_400.0
MICROS = 1_000_000

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
# Plain counts: no denominator, so no minimum sample either.
COUNT_KPIS = frozenset({"stalled_deals", "stalled_value", "critical_violations_7d"})
CLUSTERS = "stalled_high_value_clusters"


S = TypeVar("S", covariant=True)


class _States(Protocol[S]):
    def items(self) -> Iterable[tuple[str, S]]: ...


class StateSource(Protocol):
    """What the collector reads: the worker's Pipeline (or a fake of it in tests)."""

    policy: Policy
    roster: Mapping[str, RosterEntry]
    rep_stage: RepStage
    team_stage: TeamStage
    reps: _States[RepState]
    teams: _States[TeamState]

    def clock_now(self) -> Clock: ...


class _PerRep:
    """A family whose samples are per rep, or with ``per_rep`` off summed per team (the
    ``rep`` label dropped)."""

    def __init__(self, family: GaugeMetricFamily | CounterMetricFamily, per_rep: bool) -> None:
        self.family, self.per_rep = family, per_rep
        self.sums: dict[tuple[str, ...], float] = {}

    def add(self, team: str, rep: str, value: float, *labels: str) -> None:
        if self.per_rep:
            self.family.add_metric([team, rep, *labels], value)
        else:
            key = (team, *labels)
            self.sums[key] = self.sums.get(key, 0.0) + value

    def done(self) -> Metric:
        for key, value in sorted(self.sums.items()):
            self.family.add_metric(list(key), value)
        return self.family


class KpiCollector(Collector):
    """Exports every owned rep's KPI value, numerator and denominator, violations, last
    activity and roster info, and each known team's thresholds; with ``per_rep`` off,
    team sums of numerators, denominators and violations instead of rep series."""

    def __init__(self, source: StateSource, per_rep: bool) -> None:
        self._source = source
        self._per_rep = per_rep

    def collect(self) -> Iterator[Metric]:
        source, per_rep = self._source, self._per_rep
        clock = source.clock_now()
        labels = ["team", "rep"] if per_rep else ["team"]
        gauge, counter = GaugeMetricFamily, CounterMetricFamily
        values = {kpi: gauge(f"latitude_{base}_{unit}", f"{base}; absent while "
                             "insufficient_data.", labels=labels)
                  for kpi, (base, unit, _) in KPI_METRICS.items()}
        numerators = {kpi: _PerRep(gauge(f"latitude_{base}_numerator", f"{base} numerator "
                                         "(sum for teams).", labels=labels), per_rep)
                      for kpi, (base, _, _) in KPI_METRICS.items()}
        denominators = {kpi: _PerRep(gauge(f"latitude_{base}_denominator", f"{base} "
                                           "denominator (sum for teams).", labels=labels),
                                     per_rep)
                        for kpi, (base, _, _) in KPI_METRICS.items() if kpi not in COUNT_KPIS}
        prior = [_PerRep(gauge(f"latitude_sales_cycle_prior_year_{part}", doc, labels=labels),
                         per_rep) for part, doc in (
            ("numerator", "Cycle seconds of wins closed in the same 90 days a year earlier."),
            ("denominator", "Wins closed in the same 90 days a year earlier."))]
        violations = _PerRep(counter(
            "latitude_guardrail_violations", "Guardrail violations credited to the rep, by "
            "rule (every rule exported, at 0 until the first).",
            labels=[*labels, "rule", "severity"]), per_rep)
        activity = gauge("latitude_rep_last_activity_timestamp_seconds",
                         "Event time of the rep's latest own event.", labels=["team", "rep"])
        info = gauge("latitude_rep_info", "The rep's roster record (always 1).",
                     labels=["team", "rep", "tier", "manager"])
        teams: set[str] = set()
        owned = 0
        for rep_id, state in source.reps.items():
            owned += 1
            entry = source.roster.get(rep_id)
            team = UNASSIGNED if entry is None else entry.team
            teams.add(team)
            raw = source.rep_stage.figures(state, clock).raw
            for kpi, value in k.judge_figures(raw, _bands(source.policy, team)).items():
                if kpi not in KPI_METRICS:
                    continue
                scale = KPI_METRICS[kpi][2]
                if per_rep and value.value is not None:
                    values[kpi].add_metric([team, rep_id], value.value * scale)
                numerators[kpi].add(team, rep_id, value.numerator * scale)
                if kpi in denominators:
                    denominators[kpi].add(team, rep_id, value.denominator or 0.0)
            cycle_seconds, wins = raw[k.CYCLE_PRIOR]
            prior[0].add(team, rep_id, cycle_seconds * SECONDS_PER_DAY)
            prior[1].add(team, rep_id, wins or 0.0)
            for rule, severity in SEVERITY.items():
                count = state.violation_totals.get(rule, 0)
                violations.add(team, rep_id, count, rule, severity.value)
            if per_rep:
                if state.last_activity > 0:
                    activity.add_metric([team, rep_id], state.last_activity / MICROS)
                tier = source.policy.default_tier if entry is None else entry.tier
                manager = "" if entry is None else entry.manager_id or ""
                info.add_metric([team, rep_id, tier, manager], 1)
        for kpi in KPI_METRICS:
            yield values[kpi]
            yield numerators[kpi].done()
            if kpi in denominators:
                yield denominators[kpi].done()
        yield from (part.done() for part in prior)
        yield violations.done()
        yield activity
        yield info
        clusters = gauge(f"latitude_{CLUSTERS}_count", "Stages where at least three "
                         "high-value deals of the team are stalled.", labels=["team"])
        for team, team_state in source.teams.items():
            teams.add(team)
            kpi = source.team_stage.kpis(team_state, team, clock).get(CLUSTERS)
            if kpi is not None:
                clusters.add_metric([team], kpi.numerator)
        yield clusters
        yield from _thresholds(source.policy, sorted(teams))
        yield from _worker_gauges(clock, owned, len(source.roster))


def _bands(policy: Policy, team: str) -> Callable[[str], Band]:
    return lambda name: policy.band(name, team)


def _thresholds(policy: Policy, teams: list[str]) -> Iterator[GaugeMetricFamily]:
    """Each team's target, breach threshold and minimum sample of every KPI."""
    gauge = GaugeMetricFamily
    kpis = {**KPI_METRICS, CLUSTERS: (CLUSTERS, "count", 1.0)}
    for kpi, (base, unit, scale) in kpis.items():
        name = f"latitude_{base}"
        target = gauge(f"{name}_target_{unit}", f"{base} target of the team.", labels=["team"])
        breach = gauge(f"{name}_breach_{unit}", f"{base} breach threshold of the team.",
                       labels=["team"])
        sample = gauge(f"{name}_min_sample", f"{base} minimum sample of the team.",
                       labels=["team"])
        for team in teams:
            band = policy.band(kpi, team)
            if band.target is not None:
                target.add_metric([team], band.target * scale)
            if band.breach is not None and kpi != CLUSTERS:
                breach.add_metric([team], band.breach * scale)
            if kpi not in COUNT_KPIS and kpi != CLUSTERS:
                sample.add_metric([team], band.min_sample)
        yield target
        if kpi != CLUSTERS:
            yield breach
            yield sample


def _worker_gauges(clock: Clock, owned: int, roster: int) -> Iterator[GaugeMetricFamily]:
    stream_time = GaugeMetricFamily(
        "latitude_stream_time_seconds",
        "Stream time: the largest event time seen (event-time lag = time() - this).",
    )
    if clock.now:
        stream_time.add_metric([], clock.now / MICROS)
    yield stream_time
    reps = GaugeMetricFamily("latitude_owned_reps", "Reps whose state this worker owns.")
    reps.add_metric([], owned)
    yield reps
    # Each worker holds the whole roster, replicated through its changelog: a worker
    # behind the others judges a rep it does not know yet with the default tier.
    known = GaugeMetricFamily("latitude_roster_reps", "Reps in this worker's copy of the roster.")
    known.add_metric([], roster)
    yield known
