"""The KPI collector over a fake pipeline (no broker): the families of docs/metrics.md,
violations at 0 for every rule, per-team mode equal to the team sums of per-rep mode,
and the documented cardinality budget."""

from __future__ import annotations

import re
from collections import defaultdict

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from agents.kpi_metrics import COUNT_KPIS, KPI_METRICS, KpiCollector
from streams import guardrails as g
from streams.clock import DAY_US
from streams.policy_model import default_policy
from streams.stages import RepState, TeamStage
from tests.fake_pipeline import (
    CLOCK,
    NOW,
    ROSTER,
    FakePipeline,
    FullFigures,
    decisions,
    full_pipeline,
    over_authority,
    rep_with,
)
from tests.tools import REPO


def samples(pipeline: FakePipeline, per_rep: bool = True) -> list[Sample]:
    metrics: list[Metric] = list(KpiCollector(pipeline, per_rep).collect())
    names = [m.name for m in metrics]
    assert len(names) == len(set(names)), "a family is yielded twice"
    return [s for m in metrics for s in m.samples]


def find(found: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in found if s.name == name and labels.items() <= s.labels.items()]


def test_rep_families_from_real_rep_state() -> None:
    pipeline = FakePipeline({
        "r-a1": rep_with(*decisions("r-a1", 6, 2), over_authority("r-a1")),
        "r-b1": rep_with(*decisions("r-b1", 2, 2)),  # too few decisions for a value
    })
    found = samples(pipeline)
    assert find(found, "latitude_autonomy_level_ratio", rep="r-a1")[0].value == 2 / 6
    assert find(found, "latitude_autonomy_level_ratio", rep="r-b1") == []
    assert find(found, "latitude_autonomy_level_numerator", rep="r-b1")[0].value == 2
    assert find(found, "latitude_autonomy_level_denominator", rep="r-b1")[0].value == 2
    violations = find(found, "latitude_guardrail_violations_total", rep="r-a1")
    assert {s.labels["rule"]: s.value for s in violations} == {
        rule: float(rule == "discount_over_authority") for rule in g.SEVERITY
    }
    assert {s.labels["severity"] for s in violations} == {"critical", "warning", "info"}
    assert len(find(found, "latitude_guardrail_violations_total", rep="r-b1")) == len(g.SEVERITY)
    [info] = find(found, "latitude_rep_info", rep="r-a1")
    assert info.labels == {"team": "team-a", "rep": "r-a1", "tier": "junior", "manager": "m-a"}
    assert find(found, "latitude_rep_info", rep="r-b1")[0].labels["manager"] == ""
    [active] = find(found, "latitude_rep_last_activity_timestamp_seconds", rep="r-a1")
    assert active.value == (NOW - DAY_US) / 1e6
    assert find(found, "latitude_sales_cycle_prior_year_denominator", rep="r-a1")[0].value == 0
    assert find(found, "latitude_owned_reps")[0].value == 2
    assert find(found, "latitude_roster_reps")[0].value == 3  # the roster, not the owned
    assert find(found, "latitude_autonomy_level_target_ratio", team="team-b")[0].value == 0.8
    assert find(found, "latitude_stalled_deals_min_sample") == [], "counts have no sample"


def test_team_clusters_come_from_owned_team_state() -> None:
    team = TeamStage(default_policy()).update(None, "r-a1", FullFigures().figures(
        RepState(), CLOCK))
    found = samples(FakePipeline({}, teams={"team-a": team}))
    [clusters] = find(found, "latitude_stalled_high_value_clusters_count")
    assert clusters.labels == {"team": "team-a"} and clusters.value == 1
    assert find(found, "latitude_stalled_high_value_clusters_target_count")[0].value == 0


def test_per_team_mode_exports_the_team_sums_of_per_rep_mode() -> None:
    pipeline = full_pipeline()
    per_rep, per_team = samples(pipeline), samples(pipeline, per_rep=False)
    assert all("rep" not in s.labels for s in per_team)
    expected: dict[tuple, float] = defaultdict(float)
    for s in per_rep:
        if re.search(r"_(numerator|denominator|total)$", s.name):
            labels = tuple(sorted((n, v) for n, v in s.labels.items() if n != "rep"))
            expected[s.name, labels] += s.value
    summed = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in per_team
              if re.search(r"_(numerator|denominator|total)$", s.name)}
    assert summed == expected
    assert find(per_team, "latitude_autonomy_level_numerator", team="team-a")[0].value == 6
    value_names = {f"latitude_{base}_{unit}" for base, unit, _ in KPI_METRICS.values()}
    assert not [s for s in per_team if s.name in value_names], "no ratios of sums"
    assert not find(per_team, "latitude_rep_info")
    assert find(per_team, "latitude_autonomy_level_target_ratio", team="team-b")


def documented_budget() -> tuple[int, int]:
    text = (REPO / "docs" / "metrics.md").read_text("utf-8")
    per_rep = re.search(r"\*\*≤ (\d+) series per rep\*\*", text)
    per_team = re.search(r"\*\*≤ (\d+) series per team\*\*", text)
    assert per_rep and per_team, "docs/metrics.md states no cardinality budget"
    return int(per_rep.group(1)), int(per_team.group(1))


def series_counts(found: list[Sample]) -> tuple[dict[str, int], dict[str, int]]:
    """Series per rep (labelled with the rep) and per team (team label, no rep)."""
    reps: dict[str, int] = defaultdict(int)
    teams: dict[str, int] = defaultdict(int)
    for s in found:
        if "rep" in s.labels:
            reps[s.labels["rep"]] += 1
        elif "team" in s.labels:
            teams[s.labels["team"]] += 1
    return reps, teams


def test_series_per_rep_and_per_team_stay_within_the_documented_budget() -> None:
    rep_budget, team_budget = documented_budget()
    reps, teams = series_counts(samples(full_pipeline()))
    # Every rep has every KPI here: 18 values, 18 numerators, 15 denominators, 2
    # prior-year sums, 8 rules, last activity and info.
    assert reps == {rep: 18 + 18 + 15 + 2 + len(g.SEVERITY) + 2 for rep in ROSTER}
    assert max(reps.values()) <= rep_budget
    assert teams["team-a"] == max(teams.values()) <= team_budget
    thresholds = sum(
        (band.target is not None) + (band.breach is not None)
        for kpi in KPI_METRICS for band in [default_policy().band(kpi, "team-a")]
    )
    assert teams["team-a"] == thresholds + (len(KPI_METRICS) - len(COUNT_KPIS)) + 2
    _, per_team_mode = series_counts(samples(full_pipeline(), per_rep=False))
    # Per-team mode moves the rep sums onto the team: 18 + 15 + 2 + 8 more per team.
    assert per_team_mode["team-a"] == teams["team-a"] + 18 + 15 + 2 + len(g.SEVERITY)
