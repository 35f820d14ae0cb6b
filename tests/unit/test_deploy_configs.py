"""The deploy side: Prometheus config, recording and alert rules (with promtool unit
tests), runbooks, the Alertmanager routing generated from the roster, Grafana dashboards.

promtool and amtool are required (Debian: ``apt-get install -y --no-install-recommends
prometheus prometheus-alertmanager``); without them these tests fail with that hint.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from agents.alert_routing import (
    RosterError,
    RosterRow,
    RoutingOptions,
    build_config,
    contact_config,
    load_roster,
    main,
    render,
    routing_problems,
    team_managers,
)
from streams.policy_model import DEFAULT_BANDS
from tests.samples import encode_json, valid_event
from tests.tools import (
    DEPLOY,
    GRAFANA_VARIABLES,
    REPO,
    dashboard_queries,
    require_tool,
    run_tool,
    substitute_grafana_variables,
)

PROMETHEUS = DEPLOY / "prometheus"
RECORDING = PROMETHEUS / "rules" / "recording.yml"
ALERTS = PROMETHEUS / "rules" / "alerts.yml"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
ALERTMANAGER = DEPLOY / "alertmanager"
EXAMPLE_ROSTER = ALERTMANAGER / "roster.example.yaml"
GRAFANA = DEPLOY / "grafana"
RUNBOOKS = REPO / "docs" / "runbooks.md"
RUNBOOK_BASE = "https://latitude.example/runbooks/docs/runbooks.md#"
# KPIs whose team figure is a plain sum (no denominator).
COUNT_KPIS = {"stalled_deals", "stalled_value", "critical_violations_7d"}
# docs/metrics.md name -> streams.policy_model name, where they differ.
BAND_NAMES = {"sales_cycle": "sales_cycle_days"}


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def recording_rules() -> dict[str, str]:
    groups = yaml.safe_load(RECORDING.read_text(encoding="utf-8"))["groups"]
    return {rule["record"]: rule["expr"] for group in groups for rule in group["rules"]}


def metrics_md_kpis() -> dict[str, str]:
    """kpi -> unit, from the KPI table of docs/metrics.md (the metric contract)."""
    text = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| `([a-z_]+)`", text, re.MULTILINE)
    assert len(rows) >= 15, "docs/metrics.md KPI table not found"
    return dict(rows)


def amtool_route(config: Path, *labels: str) -> str:
    """The receiver Alertmanager's own routing picks for an alert with ``labels``."""
    amtool = require_tool("amtool")
    out = run_tool([amtool, "config", "routes", "test", f"--config.file={config}", *labels])
    return out.strip()


# ---- promtool ----


def test_prometheus_config_is_valid() -> None:
    promtool = require_tool("promtool")
    run_tool([promtool, "check", "config", str(PROMETHEUS / "prometheus.yml")])


def test_rule_files_are_valid() -> None:
    promtool = require_tool("promtool")
    run_tool([promtool, "check", "rules", str(RECORDING), str(ALERTS)])


def test_rule_unit_tests_pass() -> None:
    promtool = require_tool("promtool")
    assert RULE_TESTS, "no promtool tests in deploy/prometheus/tests"
    out = run_tool([promtool, "test", "rules", *map(str, RULE_TESTS)], cwd=PROMETHEUS)
    assert "FAILED" not in out


# ---- alert rules: labels, annotations, runbooks, tests ----


def test_every_alert_has_severity_scope_summary_description_and_runbook() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in alert_rules():
        name, labels, notes = rule["alert"], rule["labels"], rule["annotations"]
        assert re.fullmatch(r"Latitude[A-Z][A-Za-z0-9]+", name), name
        assert labels["severity"] in {"critical", "warning", "info"}, name
        assert labels["scope"] in {"team", "rep", "service"}, name
        assert notes["summary"].strip() and notes["description"].strip(), name
        assert "$value" in notes["summary"] + notes["description"] or name in {
            "LatitudeWorkersAbsent",
            "LatitudeWorkerDown",
        }, f"{name}: the description should show the value"
        assert notes["runbook_url"] == RUNBOOK_BASE + name.lower(), name
        if labels["scope"] in {"team", "rep"}:
            assert labels.get("kpi"), f"{name}: KPI alerts carry a kpi label"
            assert "team" not in labels, f"{name}: team must come from the series"


def test_team_kpi_thresholds_come_from_the_exported_series() -> None:
    for rule in alert_rules():
        if rule["labels"]["scope"] != "team":
            continue
        expr = rule["expr"]
        assert "on (team)" in expr, rule["alert"]
        assert re.search(r"_(target|breach)_[a-z_]+:max", expr), rule["alert"]
        # No number is compared with a KPI except the quarter gate and pace arithmetic.
        literals = re.findall(r"(?<![\w.:])\d+(?:\.\d+)?(?![\w.:])", expr)
        assert set(literals) <= {"1", "3"}, (rule["alert"], literals)


def test_every_alert_has_a_runbook_section_and_every_section_an_alert() -> None:
    text = RUNBOOKS.read_text(encoding="utf-8")
    sections = {h.lower() for h in re.findall(r"^## (Latitude\w+)\s*$", text, re.MULTILINE)}
    alerts = {rule["alert"].lower() for rule in alert_rules()}
    assert alerts - sections == set(), "alerts without a runbook section"
    assert sections - alerts == set(), "runbook sections without an alert"


def test_every_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    fired: dict[str, list[dict]] = {}
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in group.get("alert_rule_test", []):
                expected = case.get("exp_alerts") or []
                if expected:
                    fired.setdefault(case["alertname"], []).extend(expected)
                else:
                    quiet.add(case["alertname"])
    for rule in alert_rules():
        name = rule["alert"]
        assert name in fired, f"{name}: no promtool case where it fires"
        assert name in quiet, f"{name}: no promtool case where it must not fire"
        for alert in fired[name]:
            labels, notes = alert["exp_labels"], alert.get("exp_annotations", {})
            assert labels["severity"] == rule["labels"]["severity"], name
            assert set(notes) >= {"summary", "description", "runbook_url"}, name
            if rule["labels"]["scope"] in {"team", "rep"}:
                assert labels.get("team"), f"{name}: fires without a team label"


def test_every_kpi_with_a_target_has_team_rollups_and_an_alert() -> None:
    records = recording_rules()
    exprs = "\n".join(rule["expr"] for rule in alert_rules())
    for kpi, unit in metrics_md_kpis().items():
        if kpi in COUNT_KPIS:
            assert f"team:latitude_{kpi}:sum" in records, kpi
        else:
            assert f"team:latitude_{kpi}:ratio" in records, kpi
        band = DEFAULT_BANDS[BAND_NAMES.get(kpi, kpi)]
        if band.target is None or kpi == "critical_violations_7d":
            continue
        assert f"team:latitude_{kpi}_target_{unit}:max" in records, kpi
        assert f"team:latitude_{kpi}:" in exprs, f"{kpi}: no alert on its team figure"
    assert 'latitude_guardrail_violations_total{severity="critical"}' in exprs
    assert "team:latitude_stalled_high_value_clusters:max" in exprs


def test_team_ratios_are_summed_numerators_over_summed_denominators() -> None:
    records = recording_rules()
    for kpi in set(metrics_md_kpis()) - COUNT_KPIS - {"sales_cycle_yoy_change"}:
        assert records[f"team:latitude_{kpi}_numerator:sum"] == (
            f"sum by (team) (latitude_{kpi}_numerator)"
        )
        assert records[f"team:latitude_{kpi}_denominator:sum"] == (
            f"sum by (team) (latitude_{kpi}_denominator)"
        )
        ratio = records[f"team:latitude_{kpi}:ratio"]
        assert f"team:latitude_{kpi}_numerator:sum\n  / (team:latitude_{kpi}_denominator" in ratio


def test_min_sample_fallbacks_are_the_policy_defaults() -> None:
    for name, expr in recording_rules().items():
        match = re.fullmatch(r"team:latitude_(\w+)_min_sample:max", name)
        if match:
            default = float(re.search(r"\+ (\d+(?:\.\d+)?)\s*$", expr).group(1))
            kpi = BAND_NAMES.get(match.group(1), match.group(1))
            assert default == DEFAULT_BANDS[kpi].min_sample, name


# ---- Alertmanager ----

TWO_TEAMS = [
    RosterRow("r-1", "east", "m-east", "https://hooks.example/east"),
    RosterRow("r-2", "east", "m-east", "https://hooks.example/east"),
    RosterRow("r-3", "west", "m-west", "west.manager@example.com"),
]


def write_config(tmp_path: Path, roster: list[RosterRow], **options: str) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render(build_config(roster, RoutingOptions(**options)), "test"), "utf-8")
    return path


def test_generated_example_config_is_checked_in_and_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roster, _ = load_roster(EXAMPLE_ROSTER)
    assert len({entry.team for entry in roster}) == 2
    fresh = tmp_path / "alertmanager.yml"
    monkeypatch.chdir(REPO)
    source = EXAMPLE_ROSTER.relative_to(REPO).as_posix()
    assert main(["--roster", source, "--out", str(fresh)]) == 0
    checked_in = ALERTMANAGER / "alertmanager.yml"
    assert checked_in.read_text("utf-8") == fresh.read_text("utf-8"), (
        "deploy/alertmanager/alertmanager.yml is stale: python -m agents.alert_routing --roster "
        "deploy/alertmanager/roster.example.yaml --out deploy/alertmanager/alertmanager.yml"
    )
    amtool = require_tool("amtool")
    run_tool([amtool, "check-config", str(checked_in)])


def test_example_config_routes_each_team_to_its_manager_only() -> None:
    config = ALERTMANAGER / "alertmanager.yml"
    roster, _ = load_roster(EXAMPLE_ROSTER)
    for team, manager in team_managers(roster).items():
        for severity in ("critical", "warning", "info"):
            receiver = amtool_route(config, f"team={team}", f"severity={severity}", "alertname=X")
            assert receiver == f"manager-{manager}", (team, severity)
    assert amtool_route(config, "team=unknown-team", "severity=critical") == "ops"
    assert amtool_route(config, "alertname=LatitudeWorkerDown", "severity=critical") == "ops"


def test_webhook_and_email_receivers_and_a_valid_config(tmp_path: Path) -> None:
    config = build_config(TWO_TEAMS)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["manager-m-east"]["webhook_configs"] == [
        {"url": "https://hooks.example/east", "send_resolved": True}
    ]
    assert receivers["manager-m-west"]["email_configs"] == [
        {"to": "west.manager@example.com", "send_resolved": True}
    ]
    assert config["global"]["smtp_smarthost"] and config["global"]["smtp_from"]
    assert config["route"]["receiver"] == "ops"
    assert config["route"]["group_by"] == ["alertname", "team"]
    routes = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"]}
    assert routes == {'team="east"': "manager-m-east", 'team="west"': "manager-m-west"}
    path = write_config(tmp_path, TWO_TEAMS)
    run_tool([require_tool("amtool"), "check-config", str(path)])
    assert amtool_route(path, "team=west", "severity=warning") == "manager-m-west"
    assert amtool_route(path, "team=nowhere", "severity=warning") == "ops"


def test_inhibition_rules() -> None:
    rules = build_config(TWO_TEAMS)["inhibit_rules"]
    by_equal = {tuple(rule["equal"]): rule for rule in rules}
    rep = by_equal[("team", "rep")]
    assert 'severity="critical"' in rep["source_matchers"]
    assert 'severity=~"warning|info"' in rep["target_matchers"]
    # Two alerts without a rep label are "equal" on rep: both sides must require one.
    assert 'rep=~".+"' in rep["source_matchers"] and 'rep=~".+"' in rep["target_matchers"]
    team = by_equal[("team", "kpi")]
    assert {'scope="team"', 'severity="critical"'} <= set(team["source_matchers"])
    assert {'scope="team"', 'severity=~"warning|info"'} <= set(team["target_matchers"])


def test_a_rep_managed_outside_the_team_goes_to_their_own_manager(tmp_path: Path) -> None:
    roster = [*TWO_TEAMS, RosterRow("r-4", "east", "m-west", "west.manager@example.com")]
    assert team_managers(roster) == {"east": "m-east", "west": "m-west"}
    path = write_config(tmp_path, roster)
    assert amtool_route(path, "team=east", "rep=r-4", "severity=warning") == "manager-m-west"
    assert amtool_route(path, "team=east", "rep=r-1", "severity=warning") == "manager-m-east"
    assert amtool_route(path, "team=east", "severity=critical") == "manager-m-east"


def test_unusable_contacts_go_to_the_default_receiver(tmp_path: Path) -> None:
    roster = [*TWO_TEAMS, RosterRow("r-5", "north", "m-north", "call me maybe")]
    config = build_config(roster)
    assert "manager-m-north" not in {r["name"] for r in config["receivers"]}
    teams = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"]}
    assert teams['team="north"'] == "ops"
    assert routing_problems(roster) == [
        "manager 'm-north' has no http(s) URL or e-mail address as manager_contact: the "
        "alerts for their reps go to the default receiver"
    ]
    path = write_config(tmp_path, roster)
    run_tool([require_tool("amtool"), "check-config", str(path)])


def test_inactive_reps_stay_routed_but_active_ones_pick_the_manager() -> None:
    roster = [
        RosterRow("r-1", "east", "m-old", "https://hooks.example/old", active=False),
        RosterRow("r-2", "east", "m-old", "https://hooks.example/old", active=False),
        RosterRow("r-3", "east", "m-new", "https://hooks.example/new"),
        RosterRow("r-4", "south", "m-south", "https://hooks.example/south", active=False),
    ]
    assert team_managers(roster) == {"east": "m-new", "south": "m-south"}
    config = build_config(roster)
    teams = {r["matchers"][0]: r for r in config["route"]["routes"]}
    assert teams['team="south"']["receiver"] == "manager-m-south"
    east = teams['team="east"']
    assert east["receiver"] == "manager-m-new"
    # The inactive reps' old manager still gets alerts about them, and only those.
    rep_routes = {
        r["matchers"][0]: r["receiver"] for r in east["routes"] if "rep" in r["matchers"][0]
    }
    assert rep_routes == {'rep="r-1"': "manager-m-old", 'rep="r-2"': "manager-m-old"}


def test_label_values_are_quoted_for_alertmanager(tmp_path: Path) -> None:
    roster = [RosterRow("r-1", 'emea "north"\\', "m-1", "https://hooks.example/1")]
    path = write_config(tmp_path, roster)
    run_tool([require_tool("amtool"), "check-config", str(path)])
    # amtool reads the alert's labels in matcher syntax: the same escaping.
    assert amtool_route(path, 'team="emea \\"north\\"\\\\"', "severity=info") == "manager-m-1"
    assert amtool_route(path, 'team="emea north"', "severity=info") == "ops"


@pytest.mark.parametrize(
    ("contact", "kind"),
    [
        ("https://hooks.example/x", "webhook_configs"),
        ("http://127.0.0.1:9095/m", "webhook_configs"),
        ("grace@example.com", "email_configs"),
        ("mailto:grace@example.com", "email_configs"),
        ("ftp://example.com/x", None),
        ("https://", None),
        ("+44 20 7946 0958", None),
        ("", None),
        (None, None),
    ],
)
def test_contact_kinds(contact: str | None, kind: str | None) -> None:
    assert list(contact_config(contact)) == ([kind] if kind else [])


def test_roster_from_rep_updated_events_latest_wins(tmp_path: Path) -> None:
    def rep(event_id: str, at: str, **fields: object) -> bytes:
        base = {
            "rep_id": "r-1",
            "team": "east",
            "region": "EMEA",
            "manager_id": "m-east",
            "manager_contact": "https://hooks.example/east",
            "tier": "junior",
        }
        event = valid_event("rep.updated", event_id=event_id, occurred_at=at, **base)
        event.update(fields)
        return encode_json(event)

    lines = [
        rep(
            "e2",
            "2026-11-02T00:00:00Z",
            team="west",
            manager_id="m-west",
            manager_contact="west@example.com",
        ),
        rep("e1", "2026-11-01T00:00:00Z"),  # older: arrives later, does not win
        encode_json(valid_event("lead.qualified")),  # not a roster record: ignored
        b"",
    ]
    path = tmp_path / "reps.jsonl"
    path.write_bytes(b"\n".join(lines))
    roster, ops = load_roster(path)
    assert ops is None
    assert roster == [RosterRow("r-1", "west", "m-west", "west@example.com", True)]
    path.write_bytes(lines[0] + b"\n{not json\n")
    with pytest.raises(RosterError, match=r"reps\.jsonl:2"):
        load_roster(path)


def test_yaml_roster_errors_name_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text("reps:\n  - {rep_id: r-1, team: east}\n", "utf-8")
    with pytest.raises(RosterError, match=r"reps\[0\]\.manager_id"):
        load_roster(path)
    assert main(["--roster", str(path), "--out", str(tmp_path / "out.yml")]) == 2
    assert not (tmp_path / "out.yml").exists()


def test_cli_writes_the_config(tmp_path: Path) -> None:
    out = tmp_path / "am.yml"
    assert (
        main(
            ["--roster", str(EXAMPLE_ROSTER), "--out", str(out), "--ops-contact", "ops@example.com"]
        )
        == 0
    )
    config = yaml.safe_load(out.read_text("utf-8"))
    ops = next(r for r in config["receivers"] if r["name"] == "ops")
    assert ops["email_configs"][0]["to"] == "ops@example.com"
    run_tool([require_tool("amtool"), "check-config", str(out)])


# ---- Grafana ----


def dashboards() -> dict[str, dict]:
    paths = sorted((GRAFANA / "dashboards").glob("*.json"))
    return {p.name: json.loads(p.read_text("utf-8")) for p in paths}


def test_dashboards_are_generated_from_generate_py() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(GRAFANA / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_dashboards_parse_and_every_panel_has_a_query() -> None:
    found = dashboards()
    assert set(found) == {
        "team-overview.json",
        "rep-drilldown.json",
        "guardrail-violations.json",
        "service-health.json",
    }
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text("utf-8")
    )["datasources"][0]
    uids = set()
    for name, board in found.items():
        uids.add(board["uid"])
        assert board["panels"], name
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            assert panel["datasource"]["uid"] == datasource["uid"]
            for target in panel["targets"]:
                assert target["expr"].strip(), f"{name}: {panel['title']}"
    assert len(uids) == len(found)
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "latitude.yml").read_text("utf-8")
    )["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_dashboard_queries_use_only_known_variables() -> None:
    for board_name, board in dashboards().items():
        defined = {"$" + v["name"] for v in board["templating"]["list"]} | {"$__rate_interval"}
        for query in dashboard_queries():
            if query.dashboard != board_name:
                continue
            used = set(re.findall(r"\$\w+", query.expr))
            assert used <= set(GRAFANA_VARIABLES), query
            assert used <= defined, query
            for variable in used - {"$__rate_interval"}:
                assert f'=~"{variable}"' in query.expr, f"{query}: use =~ for multi-value"
    assert "team-overview.json" in {q.dashboard for q in dashboard_queries()}


def test_dashboard_and_runbook_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (no server needed; the e2e suite
    evaluates them against a live Prometheus)."""
    exprs = [substitute_grafana_variables(q.expr) for q in dashboard_queries()]
    for board in dashboards().values():
        for variable in board["templating"]["list"]:
            inner = re.fullmatch(r"label_values\((.+), *\w+\)", variable["query"]["query"])
            exprs.append(substitute_grafana_variables(inner.group(1)))
    runbooks = RUNBOOKS.read_text("utf-8")
    for block in re.findall(r"```promql\n(.*?)```", runbooks, re.DOTALL):
        exprs += [
            line.replace("<team>", "a").replace("<rep>", "r-1")
            for line in block.strip().splitlines()
        ]
    rules = [{"record": f"check:query_{i}:valid", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}), "utf-8")
    run_tool([require_tool("promtool"), "check", "rules", str(path)])
