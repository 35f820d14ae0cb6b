"""``latitude run``: the one-command demo. Local broker, topics, worker and the persona
simulator together; a live terminal summary of team KPIs against their targets; Ctrl-C
stops all of it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from agents.cli import KAFKA_SCRIPT
from agents.settings import Settings
from agents.topics import ALERTS, DEAD_LETTERS, KPI_SNAPSHOTS, VIOLATIONS, ensure_topics
from simulator.scenario import team_name

SUMMARY_EVERY_SECONDS = 5.0
SUMMARY_KPIS = (
    ("autonomy_level", "autonomy", "{:.0%}"),
    ("crm_hygiene", "hygiene", "{:.0%}"),
    ("pipeline_coverage", "coverage", "{:.1f}x"),
    ("revenue_attainment", "attainment", "{:.0%}"),
    ("critical_violations_7d", "critical 7d", "{:.0f}"),
    ("stalled_deals", "stalled", "{:.0f}"),
)
MARK = {"ok": " ", "warning": "!", "breach": "‼", "insufficient_data": "?"}


def run_everything(settings: Settings, *, teams: int, rate: float) -> int:
    """Start broker, worker and simulator; print team KPIs until interrupted; stop all."""
    own_broker = "LATITUDE_KAFKA_BOOTSTRAP" not in os.environ
    if own_broker and subprocess.call(["bash", str(KAFKA_SCRIPT), "start"]) != 0:
        return 1
    children: list[subprocess.Popen[bytes]] = []
    try:
        ensure_topics(settings)
        latitude = [sys.executable, "-m", "agents.cli"]
        children.append(subprocess.Popen([*latitude, "worker"]))
        children.append(subprocess.Popen([
            *latitude, "simulate", "--teams", str(teams), "--rate", str(rate),
            "--bad-every", "200", "--duplicate-every", "150", "--late-every", "300",
        ]))
        base = f"http://{settings.web_host}:{settings.web_port}"
        print(where_to_look(settings, base), flush=True)
        team_names = [team_name(i) for i in range(teams)]
        while children[0].poll() is None:
            time.sleep(SUMMARY_EVERY_SECONDS)
            print(team_summary(base, team_names), flush=True)
        return 1  # the worker ended on its own
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            stop_child(child)
        if own_broker:
            subprocess.call(["bash", str(KAFKA_SCRIPT), "stop"])


def where_to_look(settings: Settings, base: str) -> str:
    """The banner: every place a user can look at while the demo runs."""
    out = ", ".join(settings.topic(t) for t in (KPI_SNAPSHOTS, VIOLATIONS, ALERTS, DEAD_LETTERS))
    return (
        "\nLatitude is running (Ctrl-C stops everything).\n"
        f"  Kafka bootstrap : {settings.kafka_bootstrap}\n"
        f"  metrics         : {base}/metrics\n"
        f"  query API       : {base}/teams/team-a/kpis  {base}/reps/rep-a1/kpis"
        f"  {base}/reps/rep-a1/violations\n"
        f"  output topics   : {out}\n"
    )


def team_summary(base: str, teams: list[str]) -> str:
    """A small table: each team's headline KPIs (‼ breach, ! warning, ? too little data)."""
    header = f"{'team':<8}" + "".join(f"{label:>14}" for _, label, _ in SUMMARY_KPIS)
    lines = [time.strftime("%H:%M:%S ") + header]
    for team in teams:
        try:
            with urllib.request.urlopen(f"{base}/teams/{team}/kpis", timeout=2) as response:
                body = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            lines.append(f"         {team:<8} (no figures yet)")
            continue
        cells = []
        for name, _, fmt in SUMMARY_KPIS:
            kpi = body["kpis"].get(name, {})
            value = kpi.get("value")
            text = "-" if value is None else fmt.format(value)
            target = kpi.get("target")
            goal = "" if target is None else "/" + fmt.format(target)
            cells.append(f"{text + goal + MARK.get(kpi.get('status'), ' '):>14}")
        lines.append(f"         {team:<8}" + "".join(cells))
    return "\n".join(lines)


def stop_child(child: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Ask a child to stop (SIGTERM), and kill it if it does not within ``timeout``."""
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
