"""End to end: Kafka → worker → Prometheus (deploy/prometheus/rules) → Alertmanager
(configured by the project's own roster routing) → each manager's webhook.

Team A's autonomy falls below 50 %, its hygiene below 95 % and rep-a1 discounts beyond
authority while team B stays healthy: team A's manager is notified with the rules'
labels and annotations, team B's manager hears nothing; team A recovers and the
resolved notifications follow. Every panel query of every Grafana dashboard is then
evaluated against the live Prometheus and must return data.

Production `for:` durations (15 min to 1 h) would make this test take hours, so it runs
on copies of the rule files with every `for:` at 2 s and the 15-minute window of
LatitudeRepCriticalViolation at 30 s (tests/monitoring.short_rules); everything else is
the deployed rules. Prometheus scrapes and evaluates every second; Alertmanager groups
with 1 s waits. Prometheus and Alertmanager are Debian's packages: a missing binary
fails the test with the install command.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.alert_routing import RoutingOptions, build_config, load_roster, render
from tests import alerting_scenario as scenario
from tests.monitoring import (
    Daemon,
    WebhookReceiver,
    instant_query,
    short_rules,
    start_alertmanager,
    start_prometheus,
)
from tests.tools import dashboard_queries, substitute_grafana_variables
from tests.topology_scenario import produce
from tests.worker_process import WorkerProcess, wait_for, worker_env

pytestmark = pytest.mark.integration

RUNBOOKS = "https://latitude.example/runbooks/docs/runbooks.md#"
TEAM_A_ALERTS = {
    "LatitudeTeamAutonomyLow": {"scope": "team", "kpi": "autonomy_level"},
    "LatitudeTeamHygieneLow": {"scope": "team", "kpi": "crm_hygiene"},
    "LatitudeRepCriticalViolation": {
        "scope": "rep", "kpi": "critical_violations_7d", "rep": "rep-a1",
        "rule": "discount_over_authority",
    },
}
DASHBOARD_VARIABLE = re.compile(r"label_values\((.+), *(\w+)\)")
RATE_INTERVAL = "1m"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def webhooks() -> Iterator[dict[str, WebhookReceiver]]:
    """One receiver per manager, and one for the ops (default) receiver."""
    receivers = {name: WebhookReceiver() for name in [*scenario.MANAGERS.values(), "ops"]}
    yield receivers
    for receiver in receivers.values():
        receiver.close()


@pytest.fixture
def alertmanager(webhooks: dict[str, WebhookReceiver], tmp_path: Path) -> Iterator[Daemon]:
    """Alertmanager configured by agents.alert_routing from a roster file whose manager
    contacts are the test's webhooks, with second-scale grouping."""
    roster_file = tmp_path / "roster.yaml"
    roster_file.write_text("reps:\n" + "".join(
        f"  - {{rep_id: {rep}, team: {team}, manager_id: {scenario.MANAGERS[team]}, "
        f"manager_contact: \"{webhooks[scenario.MANAGERS[team]].url}\"}}\n"
        for rep, team in scenario.REPS.items()
    ), "utf-8")
    roster, _ = load_roster(roster_file)
    options = RoutingOptions(ops_contact=webhooks["ops"].url, group_wait="1s",
                             group_interval="1s", repeat_interval="1h")
    config = tmp_path / "alertmanager.yml"
    config.write_text(render(build_config(roster, options), roster_file.name), "utf-8")
    daemon = start_alertmanager(config, tmp_path)
    yield daemon
    daemon.stop()


@pytest.fixture
def worker(kafka_bootstrap: str, unique_topic_prefix: str, tmp_path: Path
           ) -> Iterator[WorkerProcess]:
    process = WorkerProcess(
        # A memory limit, so that the dashboards' limit series has data on a machine
        # whose control group sets none.
        env=worker_env(kafka_bootstrap, unique_topic_prefix, tmp_path / "data",
                       LATITUDE_SNAPSHOT_INTERVAL_SECONDS="1", LATITUDE_MEMORY_LIMIT_MB="4096"),
        log_path=tmp_path / "worker.log",
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def prometheus(worker: WorkerProcess, alertmanager: Daemon, tmp_path: Path
               ) -> Iterator[Daemon]:
    rules = short_rules(tmp_path / "rules", for_duration="2s", violation_window="30s")
    target = worker.base_url.removeprefix("http://")
    daemon = start_prometheus(tmp_path, [target], rules, f"127.0.0.1:{alertmanager.port}")
    yield daemon
    daemon.stop()


def eventually(condition: Callable[[], object], timeout: float,
               describe: Callable[[], str]) -> None:
    """wait_for, with the failure described by the state at the deadline."""
    try:
        wait_for(condition, timeout, "the condition")
    except AssertionError as error:
        raise AssertionError(f"{error}: {describe()}") from None


def alert_names(receiver: WebhookReceiver, status: str) -> set[str]:
    return {alert["labels"]["alertname"] for alert in receiver.alerts(status)}


def test_team_alerts_reach_their_manager_only_and_resolve(
    worker: WorkerProcess, prometheus: Daemon, webhooks: dict[str, WebhookReceiver],
    kafka_bootstrap: str,
) -> None:
    prefix = worker.env["LATITUDE_TOPIC_PREFIX"]
    contacts = {m: webhooks[m].url for m in scenario.MANAGERS.values()}
    produce(kafka_bootstrap, prefix, scenario.baseline(now(), contacts))
    # Team A's reps must be scraped with their violation counters at 0 before the
    # violation: a counter's first sample is no increase.
    wait_for(lambda: instant_query(prometheus, 'latitude_guardrail_violations_total{'
                                   'rep="rep-a1", rule="discount_over_authority"} == 0'),
             120, "rep-a1's violation counter scraped at 0")
    wait_for(lambda: instant_query(prometheus,
                                   'team:latitude_sales_cycle_yoy_change:ratio{team="team-b"}'),
             120, "team B's KPIs, a year of history included, in Prometheus")

    produce(kafka_bootstrap, prefix, scenario.trouble(now()))
    manager_a, manager_b = webhooks["mgr-a"], webhooks["mgr-b"]
    eventually(lambda: alert_names(manager_a, "firing") >= set(TEAM_A_ALERTS), 120,
               lambda: f"team A's alerts at its manager: {alert_names(manager_a, 'firing')}")
    for alert in manager_a.alerts("firing"):
        name, labels, notes = alert["labels"]["alertname"], alert["labels"], alert["annotations"]
        assert labels["team"] == "team-a", alert
        if name in TEAM_A_ALERTS:
            assert labels["severity"] == "critical", alert
            assert TEAM_A_ALERTS[name].items() <= labels.items(), alert
            assert "team-a" in notes["summary"] and notes["description"].strip(), alert
            assert notes["runbook_url"] == RUNBOOKS + name.lower(), alert
    autonomy = next(a for a in manager_a.alerts("firing")
                    if a["labels"]["alertname"] == "LatitudeTeamAutonomyLow")
    shown = re.search(r"autonomy ([\d.]+)%", autonomy["annotations"]["summary"])
    assert shown and float(shown.group(1)) < 50, autonomy["annotations"]
    # The dead-letter counter appears with its first record, so only a second record
    # is an increase: "keeps being dead-lettered".
    wait_for(lambda: instant_query(prometheus, "latitude_dead_letters_total == 1"), 60,
             "the first dead letter scraped")
    produce(kafka_bootstrap, prefix, [scenario.NOT_JSON])
    wait_for(lambda: "LatitudeDeadLettersRising" in alert_names(webhooks["ops"], "firing"),
             60, "the dead letters' service alert at the ops receiver")

    check_every_dashboard_query_returns_data(prometheus)

    produce(kafka_bootstrap, prefix, scenario.recovery(now()))
    eventually(lambda: alert_names(manager_a, "resolved") >= set(TEAM_A_ALERTS), 120,
               lambda: f"resolved notifications: {alert_names(manager_a, 'resolved')}")
    assert instant_query(prometheus, 'team:latitude_autonomy_level:ratio{team="team-a"} > 0.8')
    assert manager_b.payloads == [], "team B is healthy: its manager hears nothing"
    assert all(a["labels"].get("team") != "team-b"
               for receiver in webhooks.values() for a in receiver.alerts())


def variable_values(prometheus: Daemon, query: str, chosen: dict[str, str]) -> str:
    """A dashboard variable's real values from its ``label_values(expr, label)`` query,
    as Grafana substitutes a multi-value selection inside ``=~``."""
    match = DASHBOARD_VARIABLE.fullmatch(query)
    assert match, query
    expr = substitute_grafana_variables(match.group(1), chosen)
    values = sorted({r["metric"][match.group(2)] for r in instant_query(prometheus, expr)})
    assert values, f"no values for {query}"
    return "|".join(values)


def finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(r["value"][1])) for r in result)


def check_every_dashboard_query_returns_data(prometheus: Daemon) -> None:
    """Every panel query, its variables substituted with live values, returns at least
    one finite sample (polled: rates need a few scrapes, alerts their `for:`)."""
    chosen = {"$__rate_interval": RATE_INTERVAL}
    chosen["$team"] = variable_values(
        prometheus, "label_values(latitude_autonomy_level_target_ratio, team)", chosen)
    chosen["$rep"] = variable_values(
        prometheus, 'label_values(latitude_rep_info{team=~"$team"}, rep)', chosen)
    assert chosen["$team"] == "team-a|team-b" and "rep-a1" in chosen["$rep"]
    queries = dashboard_queries()
    assert len(queries) > 40
    empty: list[str] = []

    def all_have_data() -> bool:
        empty[:] = [
            f"{q.dashboard} / {q.panel}: {expr}" for q in queries
            for expr in [substitute_grafana_variables(q.expr, chosen)]
            if not finite(instant_query(prometheus, expr))
        ]
        return not empty

    eventually(all_have_data, 90, lambda: "data for every dashboard query; still empty:\n"
               + "\n".join(empty))
