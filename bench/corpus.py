"""The benchmark corpus: a realistic stream of CRM events as Kafka records.

Every type, ~10 % of notes logged days late, ~1 % redeliveries, deals that move through
the stages and close; reps in teams of ten with junior / senior / principal tiers.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from typing import Any

import msgspec

from simulator.feed import FAMILY, KEY_FIELD, Record

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAYS = 90
STAGES = ("prospecting", "qualification", "proposal", "negotiation")
BODIES = ("n/a", "call", "Discussed pricing and next steps with the CFO.",
          "Follow-up meeting booked with procurement for next Tuesday.",
          "Sent the revised proposal; legal review pending on their side.")


class Stream:
    """Builds the event dicts of a realistic stream; ``events`` returns them in arrival
    order, ``records`` encoded as JSON.

    ``reps`` defaults to one rep per 1,000 events; ``start`` is day 0; ``tag`` prefixes
    event ids, so two streams over the same reps and deals never share an id.
    """

    def __init__(self, n_events: int, seed: int, *, reps: int | None = None,
                 start: dt.datetime = START, tag: str = "ev") -> None:
        self.rnd = random.Random(seed)
        self.n_reps = reps or max(10, n_events // 1000)
        self.n_deals = max(50, n_events // 20)
        self.reps = [f"rep-{i:04d}" for i in range(self.n_reps)]
        self.teams = [f"team-{i:03d}" for i in range(max(1, self.n_reps // 10))]
        self.items: list[tuple[float, dict[str, Any]]] = []
        self.serial = 0
        self.start = start
        self.tag = tag

    def at(self, day: float) -> str:
        return (self.start + dt.timedelta(days=day)).isoformat()

    def add(self, type_name: str, day: float, delay: float = 0.0, **fields: Any) -> None:
        self.serial += 1
        event = {"type": type_name, "event_id": f"{self.tag}-{self.serial:08d}",
                 "schema_version": 1, "occurred_at": self.at(day), "source": "bench",
                 **fields}
        self.items.append((day + delay, event))

    def roster_and_quotas(self) -> None:
        for i, rep in enumerate(self.reps):
            self.add("rep.updated", 0.0, rep_id=rep, team=self.teams[i % len(self.teams)],
                     region="emea", manager_id=f"mgr-{i % len(self.teams)}",
                     tier=self.rnd.choice(("junior", "senior", "principal")), active=True)
            for period in ("2026-Q1", "2026-Q2"):
                self.add("quota.set", 0.001, rep_id=rep, period=period,
                         amount=float(self.rnd.choice((300_000, 600_000, 900_000))),
                         currency="EUR")

    def deal(self, n: int) -> None:
        rnd = self.rnd
        deal_id, account = f"deal-{n:06d}", f"acct-{n % (self.n_deals // 3):06d}"
        rep = rnd.choice(self.reps)
        day = rnd.uniform(0, DAYS - 10)
        created = self.at(day)
        close = (self.start + dt.timedelta(days=day + rnd.randint(20, 120))).date()
        amount = float(rnd.choice((5_000, 20_000, 60_000, 150_000, 400_000)))
        stage = 0
        for _ in range(rnd.randint(3, 9)):
            if rnd.random() < 0.03:
                rep = rnd.choice(self.reps)
            if rnd.random() < 0.2:
                close += dt.timedelta(days=rnd.randint(5, 30))
            if rnd.random() < 0.5 and stage < 3:
                stage += 2 if rnd.random() < 0.05 and stage < 2 else 1
            self.add("deal.updated", day, deal_id=deal_id, account_id=account, rep_id=rep,
                     stage=STAGES[stage], amount=amount, currency="EUR",
                     expected_close_date=close.isoformat(), created_at=created,
                     next_step="demo", decision_maker="CFO",
                     kind="expansion" if n % 4 == 0 else "new_business")
            self.note(day + rnd.uniform(0, 2), rep, account, deal_id)
            day += rnd.uniform(0.5, 8)
            if day >= DAYS:
                return
        if rnd.random() < 0.6:
            self.add("deal.updated", day, deal_id=deal_id, account_id=account, rep_id=rep,
                     stage=rnd.choice(("closed_won", "closed_lost")), amount=amount,
                     currency="EUR", expected_close_date=close.isoformat(),
                     created_at=created, kind="new_business")

    def note(self, day: float, rep: str, account: str, deal: str | None) -> None:
        if day < DAYS:
            late = self.rnd.uniform(0, 3) if self.rnd.random() < 0.1 else 0.0
            self.add("note.logged", day, late, note_id=f"n-{self.serial}", account_id=account,
                     deal_id=deal, rep_id=rep, body=self.rnd.choice(BODIES))

    def activity(self, n_events: int) -> None:
        rnd = self.rnd
        while len(self.items) < n_events * 0.99:
            rep, day = rnd.choice(self.reps), rnd.uniform(0, DAYS)
            deal = f"deal-{rnd.randrange(self.n_deals):06d}"
            kind = rnd.random()
            if kind < 0.25:
                pct = rnd.choice((5.0, 8.0, 12.0, 15.0, 22.0, 35.0, 45.0))
                approval = f"ap-{self.serial}" if rnd.random() < 0.3 else None
                if approval:
                    self.add("approval.requested", day - 0.1, approval_id=approval,
                             deal_id=deal, rep_id=rep, requested_discount_pct=pct)
                    self.add("approval.decided", day - 0.05, approval_id=approval,
                             deal_id=deal, rep_id=rep, decided_by="mgr",
                             decision=rnd.choice(("approved", "approved", "rejected")))
                self.add("discount.granted", day, deal_id=deal, rep_id=rep,
                         discount_pct=pct, list_amount=50_000.0, approval_id=approval)
            elif kind < 0.55:
                self.note(day, rep, f"acct-{rnd.randrange(self.n_deals // 3):06d}", None)
            elif kind < 0.8:
                self.add("lead.qualified", day, lead_id=f"lead-{self.serial}", rep_id=rep,
                         icp_fit=rnd.random() < 0.6)
            elif kind < 0.9:
                self.add("coaching.logged", day, rep_id=rep, practice="mutual close plan",
                         applied=rnd.random() < 0.7)
            else:
                self.add("survey.submitted", day, rep_id=rep,
                         account_id=f"acct-{rnd.randrange(self.n_deals // 3):06d}",
                         kind=rnd.choice(("customer_alignment", "rep_autonomy")),
                         score=float(rnd.randint(40, 100)))

    def events(self, n_events: int, *, roster: bool = True) -> list[dict[str, Any]]:
        """``n_events`` events in arrival order: roster and quotas first (unless
        ``roster`` is False: a continuation of a stream whose reps are known), ~60 %
        deal life cycles with their notes, then decisions, notes, leads, coaching and
        surveys, ~1 % redeliveries."""
        if roster:
            self.roster_and_quotas()
        for n in range(self.n_deals):
            if len(self.items) >= n_events * 0.6:
                break
            self.deal(n)
        self.activity(n_events)
        del self.items[n_events:]
        for _ in range(n_events - len(self.items)):  # ~1 % redeliveries, hours later
            arrival, event = self.rnd.choice(self.items)
            self.items.append((arrival + self.rnd.uniform(0, 0.5), event))
        self.items.sort(key=lambda item: item[0])
        return [event for _, event in self.items]

    def records(self, n_events: int) -> list[bytes]:
        """``events`` encoded as JSON, as a CRM connector would produce them."""
        encode = msgspec.json.encode
        return [encode(event) for event in self.events(n_events)]


def at_live_pace(events: list[dict[str, Any]], start: dt.datetime,
                 rate: float) -> list[dict[str, Any]]:
    """``events`` as a live feed sending ``rate`` a second carries them: the n-th happened
    at ``start`` + n / ``rate`` seconds, so event time keeps pace with the wall clock (a
    redelivery keeps its original's time; a deal is created at its first update)."""
    occurred: dict[str, str] = {}
    created: dict[str, str] = {}
    paced = []
    for n, event in enumerate(events):
        at = occurred.setdefault(event["event_id"],
                                 (start + dt.timedelta(seconds=n / rate)).isoformat())
        changed = {**event, "occurred_at": at}
        if "created_at" in event:
            changed["created_at"] = created.setdefault(event["deal_id"], at)
        paced.append(changed)
    return paced


def to_records(events: Iterable[dict[str, Any]]) -> list[Record]:
    """Kafka records (topic family, record-id key, JSON) as a CRM connector keys them."""
    encode = msgspec.json.encode
    return [
        (FAMILY[event["type"]], event[KEY_FIELD[event["type"]]].encode(), encode(event))
        for event in events
    ]


def open_deals(count: int, reps: int, *, start: dt.datetime, seed: int) -> list[dict[str, Any]]:
    """``count`` distinct deals, each opened once and left open (close date a year out,
    so no point-in-time rule closes or flags them): state a worker must hold."""
    rnd = random.Random(seed)
    created = start.isoformat()
    close = (start + dt.timedelta(days=365)).date().isoformat()
    return [
        {"type": "deal.updated", "event_id": f"open-{n:08d}", "schema_version": 1,
         "occurred_at": created, "source": "bench", "deal_id": f"open-deal-{n:08d}",
         "account_id": f"open-acct-{n:08d}", "rep_id": f"rep-{rnd.randrange(reps):04d}",
         "stage": "prospecting", "amount": float(rnd.choice((5_000, 20_000, 60_000))),
         "currency": "EUR", "expected_close_date": close, "created_at": created,
         "next_step": "demo", "decision_maker": "CFO", "kind": "new_business"}
        for n in range(count)
    ]
