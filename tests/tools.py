"""External tools for tests (promtool, amtool, prometheus, alertmanager) and dashboard queries.

A missing tool FAILS the test with the install command: the deploy checks are never
skipped for want of a binary. Reused by the e2e suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"

# Debian/Ubuntu: `prometheus` brings prometheus and promtool; `prometheus-alertmanager`
# brings the alertmanager daemon (as /usr/bin/prometheus-alertmanager) and amtool.
APT_INSTALL = "apt-get install -y --no-install-recommends prometheus prometheus-alertmanager"
PROMETHEUS_HINT = f"install Prometheus 2.42+ ({APT_INSTALL})"
ALERTMANAGER_HINT = f"install Alertmanager 0.25+ ({APT_INSTALL})"
HINTS = {
    "prometheus": PROMETHEUS_HINT,
    "promtool": PROMETHEUS_HINT,
    "alertmanager": ALERTMANAGER_HINT,
    "prometheus-alertmanager": ALERTMANAGER_HINT,
    "amtool": ALERTMANAGER_HINT,
}
# Other names the same program goes by (Debian renames the Alertmanager daemon).
ALIASES = {
    "alertmanager": ("prometheus-alertmanager",),
    "prometheus-alertmanager": ("alertmanager",),
}

# The Grafana variables the dashboards use, and the values that make a query evaluable
# on a plain Prometheus ("All" is `.*`; variables always sit inside `=~"..."`).
GRAFANA_VARIABLES = {"$team": ".*", "$rep": ".*", "$__rate_interval": "1m"}


def require_tool(name: str, hint: str | None = None) -> str:
    """The path of executable ``name`` (PATH, then /usr/bin, /usr/local/bin); fails the
    test with ``hint`` (default: the install command) when it is missing."""
    for candidate in (name, *ALIASES.get(name, ())):
        found = shutil.which(candidate) or next(
            (
                str(p)
                for p in (Path("/usr/bin") / candidate, Path("/usr/local/bin") / candidate)
                if p.is_file() and os.access(p, os.X_OK)
            ),
            None,
        )
        if found:
            return found
    pytest.fail(
        f"`{name}` is not installed: {hint or HINTS.get(name, 'install it')}", pytrace=False
    )


def run_tool(args: list[str], *, cwd: Path | None = None, timeout: float = 120) -> str:
    """Run a tool; fail the test with its output unless it exits 0. Returns stdout."""
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    return result.stdout


class PanelQuery(NamedTuple):
    dashboard: str  # file name
    panel: str  # panel title
    ref_id: str
    expr: str  # as in the dashboard, with Grafana variables


def dashboard_queries(folder: Path = DEPLOY / "grafana" / "dashboards") -> list[PanelQuery]:
    """Every panel query of every dashboard JSON in ``folder``."""
    queries = []
    for path in sorted(folder.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard.get("panels", []):
            for target in panel.get("targets", []):
                queries.append(
                    PanelQuery(path.name, panel.get("title", ""), target["refId"], target["expr"])
                )
    return queries


def substitute_grafana_variables(expr: str, values: dict[str, str] | None = None) -> str:
    """``expr`` with Grafana's variables replaced (default: every team and rep, 1m)."""
    chosen = {**GRAFANA_VARIABLES, **(values or {})}
    # Longest first, so `$__rate_interval` is not mistaken for a shorter variable.
    for name in sorted(chosen, key=len, reverse=True):
        expr = expr.replace(name, chosen[name])
    return expr
