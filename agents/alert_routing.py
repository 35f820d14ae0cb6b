"""Alertmanager configuration from the roster: each team's alerts go to its manager only.

``build_config`` is pure: roster in, Alertmanager configuration (a dict) out. Alerts are
routed on their ``team`` label to a receiver named after the team's manager; alerts of a
rep whose own manager is someone else go to that manager; alerts without a known team
(service health, team ``unassigned``) go to the default receiver (ops). A manager contact
that is an http(s) URL becomes a webhook, an e-mail address an e-mail receiver.

CLI (the ``latitude alertmanager-config`` command)::

    python -m agents.alert_routing --roster roster.yaml --out deploy/alertmanager/alertmanager.yml

The roster is a JSON-lines dump of ``rep.updated`` events (the ``crm.reps`` topic) or a
YAML file: ``reps:`` (a list of rep_id, team, manager_id, manager_contact, active) and an
optional ``ops_contact``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from schemas.decode import decode
from schemas.errors import InvalidEvent
from schemas.events import RepUpdated

DEFAULT_RECEIVER = "ops"
# Repeat reminders less often for less urgent alerts (critical: the route's own 4 h).
REPEAT_BY_SEVERITY = {"warning": "12h", "info": "24h"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RosterError(ValueError):
    """A roster file that cannot be read, naming the line or entry and the field."""


@dataclass(frozen=True, slots=True)
class RosterRow:
    """What routing needs from one rep's latest roster record."""

    rep_id: str
    team: str
    manager_id: str
    manager_contact: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class RoutingOptions:
    """Everything in the generated configuration that does not come from the roster."""

    default_receiver: str = DEFAULT_RECEIVER
    ops_contact: str | None = None
    smtp_smarthost: str = "localhost:25"
    smtp_from: str = "latitude-alerts@example.invalid"
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"


def contact_config(contact: str | None) -> dict[str, list[dict[str, Any]]]:
    """The receiver integrations for a contact: webhook, e-mail, or none if unusable."""
    text = (contact or "").strip()
    parts = urlsplit(text)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return {"webhook_configs": [{"url": text, "send_resolved": True}]}
    address = text.removeprefix("mailto:")
    if _EMAIL.match(address):
        return {"email_configs": [{"to": address, "send_resolved": True}]}
    return {}


def receiver_name(manager_id: str) -> str:
    """The receiver of a manager's alerts."""
    return f"manager-{manager_id}"


def team_managers(roster: Iterable[RosterRow]) -> dict[str, str]:
    """Each team's manager: the manager of most of its active reps (then of most of its
    reps, then the smallest id). Inactive reps stay in their team (docs/semantics.md)."""
    active: dict[str, Counter[str]] = {}
    everyone: dict[str, Counter[str]] = {}
    for entry in roster:
        everyone.setdefault(entry.team, Counter())[entry.manager_id] += 1
        active.setdefault(entry.team, Counter())[entry.manager_id] += entry.active
    return {
        team: min(managers, key=lambda m: (-active[team][m], -managers[m], m))
        for team, managers in sorted(everyone.items())
    }


def manager_contacts(roster: Iterable[RosterRow]) -> dict[str, str]:
    """Each manager's contact: the last usable one in roster order (latest record wins)."""
    contacts: dict[str, str] = {}
    for entry in roster:
        contact = (entry.manager_contact or "").strip()
        if contact_config(contact):
            contacts[entry.manager_id] = contact
    return contacts


def routing_problems(roster: Iterable[RosterRow]) -> list[str]:
    """What keeps alerts from reaching a manager: managers without a usable contact."""
    entries = list(roster)
    contacts = manager_contacts(entries)
    missing = sorted({e.manager_id for e in entries} - contacts.keys())
    return [
        f"manager {m!r} has no http(s) URL or e-mail address as manager_contact: the "
        f"alerts for their reps go to the default receiver"
        for m in missing
    ]


def build_config(
    roster: Iterable[RosterRow], options: RoutingOptions = RoutingOptions()
) -> dict[str, Any]:
    """The Alertmanager configuration for ``roster``."""
    entries = list(roster)
    managers = team_managers(entries)
    contacts = manager_contacts(entries)

    def receiver_of(manager_id: str) -> str:
        return receiver_name(manager_id) if manager_id in contacts else options.default_receiver

    routes = []
    for team, manager in managers.items():
        team_receiver = receiver_of(manager)
        rep_routes = [
            _route({"rep": e.rep_id}, receiver_of(e.manager_id))
            for e in sorted(entries, key=lambda e: e.rep_id)
            if e.team == team and receiver_of(e.manager_id) != team_receiver
        ]
        routes.append(_route({"team": team}, team_receiver, rep_routes))
    receivers = [{"name": options.default_receiver, **contact_config(options.ops_contact)}]
    receivers += [
        {"name": receiver_name(m), **contact_config(contacts[m])} for m in sorted(contacts)
    ]
    return {
        "global": {
            "resolve_timeout": "5m",
            "smtp_smarthost": options.smtp_smarthost,
            "smtp_from": options.smtp_from,
        },
        "route": {
            "receiver": options.default_receiver,
            "group_by": ["alertname", "team"],
            "group_wait": options.group_wait,
            "group_interval": options.group_interval,
            "repeat_interval": options.repeat_interval,
            "routes": routes,
        },
        "receivers": receivers,
        "inhibit_rules": [
            {
                # Any critical alert about a rep (a discount over authority) makes that
                # rep's warnings noise. `rep=~".+"`: Alertmanager treats two missing
                # labels as equal, so team and service alerts must not match.
                "source_matchers": ['scope="rep"', 'severity="critical"', 'rep=~".+"'],
                "target_matchers": ['scope="rep"', 'severity=~"warning|info"', 'rep=~".+"'],
                "equal": ["team", "rep"],
            },
            {
                # A team KPI past its breach threshold hides the same KPI's below-target.
                "source_matchers": ['scope="team"', 'severity="critical"', 'kpi=~".+"'],
                "target_matchers": ['scope="team"', 'severity=~"warning|info"', 'kpi=~".+"'],
                "equal": ["team", "kpi"],
            },
        ],
    }


def _route(labels: dict[str, str], receiver: str, routes: list | None = None) -> dict:
    matchers = [f"{name}={_quoted(value)}" for name, value in labels.items()]
    by_severity = [
        {"receiver": receiver, "matchers": [f'severity="{s}"'], "repeat_interval": every}
        for s, every in REPEAT_BY_SEVERITY.items()
    ]
    return {"receiver": receiver, "matchers": matchers, "routes": [*(routes or []), *by_severity]}


def _quoted(value: str) -> str:
    """A matcher value in double quotes, escaped the way Alertmanager parses it."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# ---- reading rosters and writing the file ----


def load_roster(path: Path) -> tuple[list[RosterRow], str | None]:
    """The roster in ``path`` (JSON lines of rep.updated, or YAML) and its ops contact."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".jsonl", ".ndjson", ".json"}:
        return _roster_from_events(text, path), None
    return _roster_from_yaml(text, path)


def _roster_from_events(text: str, path: Path) -> list[RosterRow]:
    latest: dict[str, RepUpdated] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = decode(line.encode("utf-8"))
        except InvalidEvent as error:
            raise RosterError(f"{path}:{number}: {error}") from None
        if not isinstance(event, RepUpdated):
            continue
        known = latest.get(event.rep_id)
        if known is None or (event.occurred_at, event.event_id) >= (
            known.occurred_at,
            known.event_id,
        ):
            latest[event.rep_id] = event
    ordered = sorted(latest.values(), key=lambda e: (e.occurred_at, e.event_id))
    return [RosterRow(e.rep_id, e.team, e.manager_id, e.manager_contact, e.active) for e in ordered]


def _roster_from_yaml(text: str, path: Path) -> tuple[list[RosterRow], str | None]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RosterError(f"{path}: not YAML: {error}") from None
    if isinstance(data, list):
        data = {"reps": data}
    if not isinstance(data, dict) or not isinstance(data.get("reps"), list):
        raise RosterError(f"{path}: expected a mapping with a `reps:` list (or a list of reps)")
    entries = []
    for index, rep in enumerate(data["reps"]):
        where = f"{path}: reps[{index}]"
        if not isinstance(rep, dict):
            raise RosterError(f"{where}: expected a mapping")
        for key in ("rep_id", "team", "manager_id"):
            if not isinstance(rep.get(key), str) or not rep[key]:
                raise RosterError(f"{where}.{key}: required, a non-empty string")
        contact, active = rep.get("manager_contact"), rep.get("active", True)
        if contact is not None and not isinstance(contact, str):
            raise RosterError(f"{where}.manager_contact: a string or null")
        if not isinstance(active, bool):
            raise RosterError(f"{where}.active: true or false")
        entries.append(RosterRow(rep["rep_id"], rep["team"], rep["manager_id"], contact, active))
    ops = data.get("ops_contact")
    if ops is not None and not isinstance(ops, str):
        raise RosterError(f"{path}: ops_contact: a string or null")
    return entries, ops


def render(config: dict[str, Any], source: str) -> str:
    """The configuration as YAML, with a header saying where it came from."""
    header = (
        "# Generated by `python -m agents.alert_routing` (`latitude alertmanager-config`)\n"
        f"# from {source}. Do not edit by hand: regenerate when the roster changes.\n"
        "# Check: amtool check-config <this file>\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    """Write the Alertmanager configuration for a roster file."""
    parser = argparse.ArgumentParser(
        prog="python -m agents.alert_routing", description=main.__doc__
    )
    parser.add_argument("--roster", required=True, type=Path, help="rep.updated JSONL or YAML")
    parser.add_argument("--out", required=True, help="output file, or - for stdout")
    parser.add_argument("--ops-contact", help="URL or e-mail of the default (ops) receiver")
    parser.add_argument("--smtp-smarthost", default=RoutingOptions().smtp_smarthost)
    parser.add_argument("--smtp-from", default=RoutingOptions().smtp_from)
    args = parser.parse_args(argv)
    try:
        roster, ops_contact = load_roster(args.roster)
    except (OSError, RosterError) as error:
        print(f"alert_routing: {error}", file=sys.stderr)
        return 2
    options = RoutingOptions(
        ops_contact=args.ops_contact or ops_contact,
        smtp_smarthost=args.smtp_smarthost,
        smtp_from=args.smtp_from,
    )
    for problem in routing_problems(roster):
        print(f"alert_routing: warning: {problem}", file=sys.stderr)
    text = render(build_config(roster, options), args.roster.as_posix())
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
