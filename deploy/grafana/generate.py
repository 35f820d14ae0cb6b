"""Generate Latitude's Grafana dashboards (deploy/grafana/dashboards/*.json).

    python deploy/grafana/generate.py           # rewrite the JSON files
    python deploy/grafana/generate.py --check   # exit 1 if a checked-in file is stale

Every panel query is plain PromQL on the series of docs/metrics.md and the recording
rules of deploy/prometheus/rules/recording.yml. The only Grafana variables used are
``$team``, ``$rep`` (multi-value, "All" = ``.*``, always inside ``=~"..."``) and
``$__rate_interval``; substitute them and every query evaluates on a plain Prometheus.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "latitude-prometheus"}
TEAM = 'team=~"$team"'
REP = 'team=~"$team", rep=~"$rep"'


class Kpi(NamedTuple):
    name: str  # as in docs/metrics.md
    title: str
    unit: str  # the metric-name unit: latitude_<name>_<unit>
    grafana_unit: str
    has_target: bool
    has_breach: bool
    paced: bool = False  # quarter-to-date KPI: draw the target scaled to the quarter gone
    growth: bool = False  # value = numerator / denominator - 1


KPIS = [
    Kpi("autonomy_level", "Autonomy level", "ratio", "percentunit", True, True),
    Kpi("crm_hygiene", "CRM data hygiene", "ratio", "percentunit", True, True),
    Kpi("pipeline_coverage", "Pipeline coverage (x quota, next 90 d)", "ratio", "none", True, True),
    Kpi(
        "revenue_attainment",
        "Revenue attainment (quarter to date)",
        "ratio",
        "percentunit",
        True,
        True,
        paced=True,
    ),
    Kpi("expansion_share", "Expansion revenue share", "ratio", "percentunit", True, True),
    Kpi("qualified_leads", "Qualified leads per rep (30 d)", "per_rep", "none", True, True),
    Kpi(
        "revenue_growth",
        "Closed-won revenue growth QoQ (quarter to date)",
        "ratio",
        "percentunit",
        True,
        True,
        paced=True,
        growth=True,
    ),
    Kpi(
        "sales_cycle_yoy_change",
        "Sales cycle, change year on year",
        "ratio",
        "percentunit",
        True,
        True,
    ),
    Kpi("customer_alignment", "Customer alignment", "ratio", "percentunit", True, True),
    Kpi("coaching_adoption", "Coaching adoption", "ratio", "percentunit", True, True),
    Kpi("win_rate", "Win rate (90 d)", "ratio", "percentunit", False, False),
    Kpi("escalation_rate", "Escalation rate (30 d)", "ratio", "percentunit", False, False),
    Kpi(
        "authority_utilisation",
        "Authority utilisation (30 d)",
        "ratio",
        "percentunit",
        False,
        False,
    ),
    Kpi("sales_cycle", "Mean sales cycle (90 d)", "seconds", "dtdurations", False, False),
    Kpi(
        "close_date_pushes",
        "Close-date pushes per slipped deal (30 d)",
        "per_deal",
        "none",
        False,
        False,
    ),
]
COUNTS = [  # name, title, unit, has target
    ("stalled_deals", "Stalled deals", "count", True),
    ("stalled_value", "Stalled deal value", "amount", False),
    ("critical_violations_7d", "Critical violations (7 d)", "count", True),
]


class Query(NamedTuple):
    expr: str
    legend: str


def line_style(kind: str, color: str) -> dict[str, Any]:
    """A field override drawing the series whose legend ends in `kind` as a dashed line."""
    return {
        "matcher": {"id": "byRegexp", "options": f".* {kind}$"},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "color", "value": {"mode": "fixed", "fixedColor": color}},
        ],
    }


def timeseries(title: str, queries: list[Query], unit: str, description: str = "") -> dict:
    """A time-series panel; series named '<x> target' / '<x> breach' are dashed lines."""
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": q.expr,
                "legendFormat": q.legend,
                "range": True,
            }
            for i, q in enumerate(queries)
        ],
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": {"lineWidth": 2, "spanNulls": False}},
            "overrides": [
                line_style("target", "green"),
                line_style("breach", "red"),
                line_style("target pace", "green"),
                line_style("breach pace", "red"),
            ],
        },
        "options": {
            "legend": {"displayMode": "table", "placement": "right"},
            "tooltip": {"mode": "multi"},
        },
    }


def table(title: str, queries: list[Query], description: str = "") -> dict:
    """An instant-query table panel."""
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": q.expr,
                "legendFormat": q.legend,
                "instant": True,
                "range": False,
                "format": "table",
            }
            for i, q in enumerate(queries)
        ],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True},
    }


def team_kpi_panel(kpi: Kpi) -> dict:
    """A KPI per team, with the team's target and breach threshold as dashed lines."""
    queries = [Query(f"team:latitude_{kpi.name}:ratio{{{TEAM}}}", "{{team}}")]
    thresholds = [("target", kpi.has_target), ("breach", kpi.has_breach)]
    for kind, present in thresholds:
        if not present:
            continue
        series = f"team:latitude_{kpi.name}_{kind}_{kpi.unit}:max{{{TEAM}}}"
        queries.append(Query(series, f"{{{{team}}}} {kind}"))
        if kpi.paced:
            elapsed = "scalar(latitude:quarter_elapsed:ratio)"
            paced = f"(1 + {series}) * {elapsed} - 1" if kpi.growth else f"{series} * {elapsed}"
            queries.append(Query(paced, f"{{{{team}}}} {kind} pace"))
    note = (
        "Quarter to date; the 'pace' lines scale the quarterly threshold to the share of "
        "the quarter gone (what the alerts compare with)."
        if kpi.paced
        else ""
    )
    return timeseries(kpi.title, queries, kpi.grafana_unit, note)


def rep_kpi_panel(kpi: Kpi) -> dict:
    """A KPI per rep, with the team's thresholds."""
    value = f"latitude_{kpi.name}_{kpi.unit}"
    queries = [Query(f"max by (team, rep) ({value}{{{REP}}})", "{{rep}}")]
    for kind, present in (("target", kpi.has_target), ("breach", kpi.has_breach)):
        if present:
            series = f"max by (team) (latitude_{kpi.name}_{kind}_{kpi.unit}{{{TEAM}}})"
            queries.append(Query(series, f"{{{{team}}}} {kind}"))
    return timeseries(kpi.title, queries, kpi.grafana_unit)


def violations_increase(by: str, selector: str) -> str:
    return (
        f"sum by ({by}) (increase(latitude_guardrail_violations_total{{{selector}}}"
        f"[$__rate_interval]))"
    )


def team_variable() -> dict:
    return variable("team", "label_values(latitude_autonomy_level_target_ratio, team)")


def rep_variable() -> dict:
    return variable("rep", f"label_values(latitude_rep_info{{{TEAM}}}, rep)")


def variable(name: str, query: str) -> dict:
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
    }


def dashboard(uid: str, title: str, panels: list[dict], variables: list[dict]) -> dict:
    """A dashboard with panels laid out two per row."""
    for index, panel in enumerate(panels):
        panel["id"] = index + 1
        panel["gridPos"] = {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8}
    return {
        "uid": uid,
        "title": title,
        "tags": ["latitude"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-7d", "to": "now"},
        "graphTooltip": 1,
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {"type": "dashboards", "tags": ["latitude"], "asDropdown": True, "title": "Latitude"}
        ],
        "panels": panels,
    }


def team_overview() -> dict:
    panels = [team_kpi_panel(kpi) for kpi in KPIS]
    for name, title, unit, has_target in COUNTS:
        queries = [Query(f"team:latitude_{name}:sum{{{TEAM}}}", "{{team}}")]
        if has_target:
            queries.append(
                Query(f"team:latitude_{name}_target_{unit}:max{{{TEAM}}}", "{{team}} target")
            )
        panels.append(timeseries(title, queries, "none"))
    panels.append(
        timeseries(
            "Stalled high-value clusters (stages with >= 3)",
            [
                Query(f"team:latitude_stalled_high_value_clusters:max{{{TEAM}}}", "{{team}}"),
                Query(
                    f"team:latitude_stalled_high_value_clusters_target_count:max{{{TEAM}}}",
                    "{{team}} target",
                ),
            ],
            "none",
        )
    )
    panels.append(
        table(
            "Firing Latitude alerts",
            [
                Query(
                    f'sum by (alertname, severity, team) (ALERTS{{alertstate="firing", {TEAM}}})',
                    "",
                )
            ],
        )
    )
    return dashboard(
        "latitude-team-overview", "Latitude / Team overview", panels, [team_variable()]
    )


def rep_drilldown() -> dict:
    panels = [rep_kpi_panel(kpi) for kpi in KPIS]
    for name, title, unit, has_target in COUNTS:
        queries = [Query(f"max by (team, rep) (latitude_{name}_{unit}{{{REP}}})", "{{rep}}")]
        if has_target:
            queries.append(
                Query(f"max by (team) (latitude_{name}_target_{unit}{{{TEAM}}})", "{{team}} target")
            )
        panels.append(timeseries(title, queries, "none"))
    panels.append(
        timeseries(
            "Guardrail violations by rule",
            [Query(violations_increase("rep, rule", REP), "{{rep}} {{rule}}")],
            "none",
        )
    )
    panels.append(
        timeseries(
            "Time since last activity (stream time)",
            [
                Query(
                    "scalar(latitude:stream_time_seconds:max) - max by (team, rep) "
                    f"(latitude_rep_last_activity_timestamp_seconds{{{REP}}})",
                    "{{rep}}",
                )
            ],
            "s",
        )
    )
    panels.append(
        table(
            "Reps", [Query(f"max by (team, rep, tier, manager) (latitude_rep_info{{{REP}}})", "")]
        )
    )
    return dashboard(
        "latitude-rep-drilldown",
        "Latitude / Rep drill-down",
        panels,
        [team_variable(), rep_variable()],
    )


def guardrail_violations() -> dict:
    panels = [
        timeseries(
            "Violations by rule", [Query(violations_increase("rule", TEAM), "{{rule}}")], "none"
        ),
        timeseries(
            "Violations by severity",
            [Query(violations_increase("severity", TEAM), "{{severity}}")],
            "none",
        ),
        timeseries(
            "Violations by team", [Query(violations_increase("team", TEAM), "{{team}}")], "none"
        ),
        timeseries(
            "Critical violations by team and rule",
            [
                Query(
                    violations_increase("team, rule", f'{TEAM}, severity="critical"'),
                    "{{team}} {{rule}}",
                )
            ],
            "none",
        ),
        timeseries(
            "Critical violations, rolling 7 days",
            [
                Query(f"team:latitude_critical_violations_7d:sum{{{TEAM}}}", "{{team}}"),
                Query(
                    f"team:latitude_critical_violations_7d_target_count:max{{{TEAM}}}",
                    "{{team}} target",
                ),
            ],
            "none",
        ),
        timeseries(
            "Unnecessary escalations (a low-autonomy signal)",
            [
                Query(
                    violations_increase("team", f'{TEAM}, rule="unnecessary_escalation"'),
                    "{{team}}",
                )
            ],
            "none",
        ),
        table(
            "Reps with most violations, last 30 days",
            [
                Query(
                    "topk(20, sum by (team, rep, severity) (increase("
                    f"latitude_guardrail_violations_total{{{TEAM}}}[30d])) > 0)",
                    "",
                )
            ],
        ),
        table(
            "Firing rep alerts",
            [
                Query(
                    f'sum by (alertname, severity, team, rep) (ALERTS{{alertstate="firing", '
                    f'scope="rep", {TEAM}}})',
                    "",
                )
            ],
        ),
    ]
    return dashboard(
        "latitude-guardrail-violations",
        "Latitude / Guardrail violations",
        panels,
        [team_variable()],
    )


def service_health() -> dict:
    rate = "[$__rate_interval]"
    latency = "latitude_snapshot_latency_seconds_bucket"
    panels = [
        timeseries(
            "Events consumed per second",
            [
                Query(
                    f"sum by (topic, type) (rate(latitude_events_consumed_total{rate}))",
                    "{{topic}} {{type}}",
                )
            ],
            "ops",
        ),
        timeseries(
            "Dead letters per second",
            [
                Query(
                    f"sum by (topic, reason) (rate(latitude_dead_letters_total{rate}))",
                    "{{topic}} {{reason}}",
                )
            ],
            "ops",
        ),
        timeseries(
            "Late and duplicate events per second",
            [
                Query(f"sum by (topic) (rate(latitude_late_events_total{rate}))", "late {{topic}}"),
                Query(
                    f"sum by (stage) (rate(latitude_duplicate_events_total{rate}))",
                    "duplicate {{stage}}",
                ),
            ],
            "ops",
        ),
        timeseries(
            "Event-time lag (wall clock - stream time)",
            [Query("time() - latitude_stream_time_seconds", "{{instance}}")],
            "s",
        ),
        timeseries(
            "Consumer lag (messages)",
            [
                Query(
                    "sum by (topic) (max by (topic, partition) (latitude_consumer_lag_messages))",
                    "{{topic}}",
                )
            ],
            "none",
        ),
        timeseries(
            "Snapshot latency (event processed -> snapshot published)",
            [
                Query(
                    f"histogram_quantile(0.99, sum by (instance, le) (rate({latency}{rate})))",
                    "p99 {{instance}}",
                ),
                Query(
                    f"histogram_quantile(0.5, sum by (instance, le) (rate({latency}{rate})))",
                    "p50 {{instance}}",
                ),
            ],
            "s",
        ),
        timeseries(
            "Worker memory (resident against its limit, and RocksDB's native share)",
            [
                Query('process_resident_memory_bytes{job="latitude"}', "resident {{instance}}"),
                Query("latitude_memory_limit_bytes", "limit {{instance}}"),
                Query(
                    "sum by (instance) (latitude_rocksdb_memtable_bytes)",
                    "memtables {{instance}}",
                ),
                Query("latitude_rocksdb_block_cache_bytes", "block cache {{instance}}"),
            ],
            "bytes",
        ),
        timeseries("Workers up", [Query('up{job="latitude"}', "{{instance}}")], "none"),
        timeseries("Reps owned per worker", [Query("latitude_owned_reps", "{{instance}}")], "none"),
        table(
            "Firing service alerts",
            [
                Query(
                    "sum by (alertname, severity, instance, topic) "
                    '(ALERTS{alertstate="firing", scope="service"})',
                    "",
                )
            ],
        ),
    ]
    return dashboard("latitude-service-health", "Latitude / Service health", panels, [])


DASHBOARDS = {
    "team-overview.json": team_overview,
    "rep-drilldown.json": rep_drilldown,
    "guardrail-violations.json": guardrail_violations,
    "service-health.json": service_health,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards, or with --check report those that differ from the code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path, text = OUT / name, render(build)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale dashboards (run {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
