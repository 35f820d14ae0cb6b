"""The e2e alerting scenario's CRM events: team B is healthy on every KPI (so every
dashboard panel has data and its manager gets no alert); team A's autonomy and hygiene
collapse and a rep discounts beyond authority, then the team recovers.

Events are timed relative to the wall clock (stream time follows event time), in
calendar quarters where the KPI is quarterly, and produced in event-time order so no
partition sees an event older than its lateness bound unless the scenario means it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tests.samples import FAMILY_OF, encode_json, valid_event

Record = tuple[str, bytes, bytes]  # (topic family, key, value), as simulator.feed
QUALIFYING = "Call with the buyer: agreed scope, pricing review and next steps for Q1."
TEAM_A, TEAM_B = "team-a", "team-b"
MANAGERS = {TEAM_A: "mgr-a", TEAM_B: "mgr-b"}
REPS = {"rep-a1": TEAM_A, "rep-a2": TEAM_A, "rep-b1": TEAM_B, "rep-b2": TEAM_B}
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)


def quarter_start(when: dt.datetime) -> dt.datetime:
    return when.replace(month=(when.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0,
                        second=0, microsecond=0)


def period(when: dt.datetime) -> str:
    return f"{when.year}-Q{(when.month - 1) // 3 + 1}"


@dataclass
class Events:
    """Events of one production batch, timed back from ``now``."""

    now: dt.datetime
    found: list[tuple[dt.datetime, dict[str, Any]]] = field(default_factory=list)

    def add(self, type_name: str, at: dt.datetime, **fields: Any) -> dict[str, Any]:
        event_id = f"{type_name}-{self.now.timestamp():.0f}-{len(self.found)}"
        event = valid_event(type_name, event_id=event_id, occurred_at=at.isoformat(), **fields)
        self.found.append((at, event))
        return event

    def records(self) -> list[Record]:
        """Every event as a record, oldest first."""
        ordered = sorted(self.found, key=lambda pair: pair[0])
        return [(FAMILY_OF[e["type"]], e["event_id"].encode(), encode_json(e))
                for _, e in ordered]


def roster(events: Events, contacts: dict[str, str]) -> None:
    """Every rep in its team, managed by the team's manager (contact: their webhook)."""
    for rep, team in REPS.items():
        manager = MANAGERS[team]
        events.add("rep.updated", events.now - 500 * DAY, rep_id=rep, team=team,
                   manager_id=manager, manager_contact=contacts[manager],
                   tier="senior" if team == TEAM_B else "junior")


def leads(events: Events, rep: str, count: int = 16) -> None:
    for n in range(count):
        events.add("lead.qualified", events.now - n * HOUR, rep_id=rep,
                   lead_id=f"lead-{rep}-{n}-{events.now.timestamp():.0f}", icp_fit=True)


def discounts(events: Events, rep: str, count: int, pct: float, deal: str) -> None:
    """Discounts granted without an approval."""
    for n in range(count):
        events.add("discount.granted", events.now - (n + 1) * dt.timedelta(minutes=5),
                   rep_id=rep, deal_id=deal, discount_pct=pct, approved_by=None,
                   approval_id=None)


def notes(events: Events, rep: str, accounts: list[str], body: str) -> None:
    for account in accounts:
        events.add("note.logged", events.now - HOUR, rep_id=rep, account_id=account,
                   deal_id=None, note_id=f"note-{rep}-{account}-{len(events.found)}", body=body)


def deal(events: Events, rep: str, deal_id: str, account: str, at: dt.datetime, *,
         stage: str, amount: float, cycle_days: int = 20, kind: str = "new_business",
         close: dt.datetime | None = None) -> None:
    events.add("deal.updated", at, rep_id=rep, deal_id=deal_id, account_id=account,
               stage=stage, amount=amount, kind=kind,
               created_at=(at - cycle_days * DAY).isoformat(),
               expected_close_date=(close or at).date().isoformat())


def healthy_rep(events: Events, rep: str) -> None:
    """A rep meeting every target with enough data for every KPI, rep and team level."""
    now = events.now
    this_q = quarter_start(now)
    for when in (now, now + 92 * DAY):
        events.add("quota.set", now - 50 * DAY, rep_id=rep, period=period(when),
                   amount=30_000.0)
    accounts = [f"acct-{rep}-{n}" for n in range(3)]
    # Sales cycle a year ago (60 days) and now (20 days): 3 wins in each window.
    for n in range(3):
        deal(events, rep, f"deal-{rep}-old-{n}", accounts[0], now - 367 * DAY,
             stage="closed_won", amount=10_000.0, cycle_days=60)
    # Last quarter's revenue, then this quarter's: 3 wins (one expansion), 2 losses.
    deal(events, rep, f"deal-{rep}-lastq", accounts[0], this_q - DAY, stage="closed_won",
         amount=10_000.0)
    elapsed = now - this_q
    for n, (stage, kind, amount) in enumerate([
        ("closed_won", "new_business", 10_000.0), ("closed_won", "new_business", 10_000.0),
        ("closed_won", "expansion", 20_000.0), ("closed_lost", "new_business", 5_000.0),
        ("closed_lost", "new_business", 5_000.0),
    ]):
        deal(events, rep, f"deal-{rep}-q-{n}", accounts[0], this_q + elapsed * (n + 1) / 7,
             stage=stage, amount=amount, kind=kind)
    # Open pipeline closing within 90 days; one deal's close date pushed later.
    for n in (1, 2):
        deal(events, rep, f"deal-{rep}-open-{n}", accounts[n], now - 2 * HOUR,
             stage="proposal", amount=90_000.0, close=now + 30 * DAY)
    deal(events, rep, f"deal-{rep}-open-1", accounts[1], now - HOUR, stage="proposal",
         amount=90_000.0, close=now + 40 * DAY)
    for n in range(3):
        events.add("survey.submitted", this_q + elapsed * (n + 1) / 5, rep_id=rep,
                   account_id=accounts[0], kind="customer_alignment", score=90.0)
    events.add("coaching.logged", now - DAY, rep_id=rep, applied=True)
    notes(events, rep, accounts, QUALIFYING)
    leads(events, rep)
    discounts(events, rep, 6, 5.0, f"deal-{rep}-open-2")


def baseline(now: dt.datetime, contacts: dict[str, str]) -> list[Record]:
    """Roster, team B's healthy history, and team A's leads (team A known, no alert)."""
    events = Events(now)
    roster(events, contacts)
    for rep, team in REPS.items():
        if team == TEAM_B:
            healthy_rep(events, rep)
        else:
            leads(events, rep)
    return events.records()


NOT_JSON: Record = ("crm.leads", b"bad", b"this is not json")
HYGIENE_ACCOUNTS = [f"acct-rep-a2-{n}" for n in range(4)]


def trouble(now: dt.datetime) -> list[Record]:
    """Team A: 2 of 7 decisions autonomous (rep-a1 discounts 25 % alone, beyond a junior's
    10 %; approvals requested for 15 %), 4 active accounts with placeholder notes only;
    and for the service panels a record that is not JSON, a duplicate and a late event."""
    events = Events(now)
    discounts(events, "rep-a1", 1, 25.0, "deal-a1-1")
    for rep, count in (("rep-a1", 3), ("rep-a2", 1)):
        for n in range(count):
            events.add("approval.requested", now - n * HOUR, rep_id=rep, deal_id=f"deal-{rep}",
                       approval_id=f"appr-{rep}-{n}", requested_discount_pct=15.0)
    discounts(events, "rep-a2", 2, 5.0, "deal-a2-1")
    notes(events, "rep-a2", HYGIENE_ACCOUNTS, "n/a")
    duplicate = events.add("lead.qualified", now, rep_id="rep-a1", lead_id="lead-dup")
    records = events.records()
    records.append((FAMILY_OF["lead.qualified"], b"dup", encode_json(duplicate)))
    records.append(NOT_JSON)
    late = Events(now - 30 * DAY)
    late.add("lead.qualified", late.now, rep_id="rep-a1", lead_id="lead-late")
    return records + late.records()


def recovery(now: dt.datetime) -> list[Record]:
    """Team A decides alone within authority (32 of 37 decisions autonomous) and logs
    qualifying notes on every active account."""
    events = Events(now)
    for rep in ("rep-a1", "rep-a2"):
        discounts(events, rep, 15, 5.0, f"deal-{rep}-2")
    notes(events, "rep-a2", HYGIENE_ACCOUNTS, QUALIFYING)
    return events.records()
