"""Random but meaningful CRM event streams for property tests (hypothesis) and benchmarks.

The stream builder is written once against a tiny ``Chooser`` interface, backed either by
hypothesis (``events_streams()``, shrinks well) or by ``random.Random`` (``random_stream``,
for fast seeded streams of any size).

Shape of a stream (time-ordered on return):
- roster events 10 days before ``BASE`` (more than the lateness bound, so no permutation
  within the bound can move another event ahead of them), optional mid-stream team moves
  (tier unchanged) and, when asked, tier changes;
- an optional cluster of won deals one year earlier (for the year-over-year cycle KPI);
- deals with several updates each (stage progression with skips, reversals, closes and
  reopens, owner changes, amount edits, close-date pushes and pulls, snoozes, missing
  fields, same-instant ties), discounts around the tier limits with and without
  approvals (approved / rejected / not covering / decided after the grant / missing),
  unnecessary escalations, notes (qualifying and placeholders), leads, quotas (sometimes
  revised), coaching and surveys, over ~120 days with some clustering.

Every event gets a unique ``occurred_at`` (a per-event microsecond stamp) except for
deliberate ties between updates of one deal, so no two events are exactly one lateness
bound apart: boundary cases of the watermark are tested by hand, not by chance.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, replace
from typing import Protocol

import msgspec
from hypothesis import strategies as st

from schemas.events import (
    OPEN_STAGES,
    ApprovalDecided,
    ApprovalRequested,
    CoachingLogged,
    DealKind,
    DealUpdated,
    Decision,
    DiscountGranted,
    Event,
    LeadQualified,
    NoteLogged,
    QuotaSet,
    RepUpdated,
    Stage,
    SurveyKind,
    SurveySubmitted,
)
from streams.policy_model import Approvals, Band, Direction, NoteQuality, Policy, default_policy

UTC = dt.UTC
BASE = dt.datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
# Start instants of a stream: T then lands in different quarters, across a year end, and
# around 29 February 2028 (the year-ago window of a leap year).
BASES = (
    BASE,
    dt.datetime(2025, 10, 20, 23, 30, tzinfo=UTC),
    dt.datetime(2027, 11, 15, 0, 10, tzinfo=UTC),
    dt.datetime(2026, 5, 29, 17, 45, tzinfo=UTC),
)
SPAN_MINUTES = 120 * 24 * 60
TEAMS = ("amer", "emea", "apac")
TIERS = ("junior", "senior", "principal")
EXECUTIVE = "vp-1"
ACCOUNTS = tuple(f"a{i}" for i in range(1, 8))
AMOUNTS = (0.0, 5_000.0, 20_000.0, 99_999.99, 100_000.0, 150_000.0, 400_000.0)
# Around the tier limits (10 / 20 / 25), the manager limit (30) and the floor (40).
PCTS = (0.0, 5.0, 9.99, 10.0, 10.01, 15.0, 20.0, 20.01, 25.0, 25.01, 30.0, 30.01, 40.0,
        40.01, 55.0)
BODIES = (
    "n/a",
    "call",
    "  CALL. ",
    "",
    "short note",
    "x" * 19,
    "y" * 20,
    "   " + "z" * 19 + "   ",
    "Discussed pricing and next steps with the CFO.",
    "Follow-up meeting booked for next Tuesday with procurement",
)
QUOTA_AMOUNTS = (0.0, 50_000.0, 300_000.0, 1_000_000.0)
SCORES = (0.0, 50.0, 74.9, 84.9, 85.0, 100.0)


def policy_with_executive() -> Policy:
    """The default policy plus an executive approver (so > 30 % can be approved)."""
    base = default_policy()
    return replace(
        base,
        approvals=Approvals(
            manager_max_discount_pct=base.approvals.manager_max_discount_pct,
            executive_approvers=frozenset({EXECUTIVE}),
        ),
    )


# --------------------------------------------------------------------------- choosers


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...
    def choice(self, options): ...
    def chance(self, p: float) -> bool: ...


class HypothesisChooser:
    def __init__(self, draw):
        self._draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self._draw(st.integers(lo, hi))

    def choice(self, options):
        return self._draw(st.sampled_from(tuple(options)))

    def chance(self, p: float) -> bool:
        # Integers shrink towards 0, i.e. towards "no": simpler examples.
        return self._draw(st.integers(0, 999)) >= round(1000 * (1 - p))


class RandomChooser:
    def __init__(self, rnd: random.Random):
        self._rnd = rnd

    def integer(self, lo: int, hi: int) -> int:
        return self._rnd.randint(lo, hi)

    def choice(self, options):
        return self._rnd.choice(tuple(options))

    def chance(self, p: float) -> bool:
        return self._rnd.random() < p


# --------------------------------------------------------------------------- builder


@dataclass
class StreamConfig:
    max_reps: int = 6
    max_deals: int = 10
    max_updates: int = 5
    max_discounts: int = 8
    max_requests: int = 4
    max_notes: int = 14
    max_leads: int = 16
    max_coaching: int = 5
    max_surveys: int = 8
    max_history_wins: int = 6
    tier_changes: bool = False
    team_moves: bool = True
    # A second, valid decision on a rejected approval: the verdict then depends on which
    # decision arrives first ("known invalid -> at once" is never retracted).
    second_decisions: bool = False
    burst_chance: float = 0.5
    vary_base: bool = True


class _Builder:
    def __init__(self, c: Chooser, cfg: StreamConfig):
        self.c = c
        self.cfg = cfg
        self.events: list[Event] = []
        self._stamp = 0
        self._serial = 0
        self.base = c.choice(BASES) if cfg.vary_base else BASE
        self.centers = [c.integer(0, SPAN_MINUTES) for _ in range(c.integer(1, 3))]

    # -- time: unique microsecond per stamp, so no two events are exactly L apart
    def at(self, minutes: int) -> dt.datetime:
        self._stamp += 1
        return self.base + dt.timedelta(minutes=minutes, microseconds=self._stamp)

    def minute(self) -> int:
        """A minute offset in the span: uniform, in the last 30 days (where the rolling
        windows look), or clustered around a few centres."""
        mode = self.c.integer(0, 2)
        if mode == 0:
            return self.c.integer(0, SPAN_MINUTES)
        if mode == 1:
            return SPAN_MINUTES - self.c.integer(0, 30 * 1440)
        centre = self.c.choice(self.centers)
        return max(0, min(SPAN_MINUTES, centre + self.c.integer(-3 * 1440, 3 * 1440)))

    def env(self, when: dt.datetime) -> dict:
        self._serial += 1
        return {
            "event_id": f"tmp-{self._serial}",
            "schema_version": 1,
            "occurred_at": when,
            "source": "test",
        }

    def add(self, cls, when: dt.datetime, **fields) -> Event:
        ev = cls(**self.env(when), **fields)
        self.events.append(ev)
        return ev

    def periods(self) -> list[str]:
        """Quota periods from the quarter before the stream to 90 days after its end."""
        out: list[str] = []
        d = (self.base - dt.timedelta(days=100)).date()
        end = (self.base + dt.timedelta(minutes=SPAN_MINUTES, days=95)).date()
        while d <= end:
            name = f"{d.year}-Q{(d.month - 1) // 3 + 1}"
            if name not in out:
                out.append(name)
            d += dt.timedelta(days=15)
        return out

    def busy_rep(self) -> str:
        """Half of the activity goes to r1, so that some windows reach their min sample."""
        return self.reps[0] if self.c.chance(0.5) else self.c.choice(self.reps)

    # -- pieces
    def roster(self) -> None:
        c = self.c
        n_teams = c.integer(2, 3)
        self.teams = TEAMS[:n_teams]
        n_reps = c.integer(2, self.cfg.max_reps)
        self.reps = [f"r{i}" for i in range(1, n_reps + 1)]
        self.rostered = {}
        unrostered = self.reps[-1] if c.chance(0.2) else None
        for i, rep in enumerate(self.reps):
            if rep == unrostered:
                continue
            team, tier = c.choice(self.teams), c.choice(TIERS)
            self.rostered[rep] = (team, tier)
            self.add(RepUpdated, self.base - dt.timedelta(days=10, minutes=-i), rep_id=rep,
                     team=team, region="north", manager_id=f"m-{team}", tier=tier)
        if self.cfg.team_moves and self.rostered and c.chance(0.4):
            rep = c.choice(sorted(self.rostered))
            team = c.choice(self.teams)
            tier = self.rostered[rep][1]
            self.add(RepUpdated, self.at(self.minute()), rep_id=rep, team=team,
                     region="north", manager_id=f"m-{team}", tier=tier)
        if self.cfg.tier_changes and self.rostered and c.chance(0.6):
            rep = c.choice(sorted(self.rostered))
            team = self.rostered[rep][0]
            self.add(RepUpdated, self.at(self.minute()), rep_id=rep, team=team,
                     region="north", manager_id=f"m-{team}", tier=c.choice(TIERS))

    def history_wins(self) -> None:
        c = self.c
        for i in range(c.integer(0, self.cfg.max_history_wins)):
            when = self.base - dt.timedelta(days=365) + dt.timedelta(
                minutes=c.integer(0, SPAN_MINUTES), microseconds=i + 1)
            self.add(DealUpdated, when, deal_id=f"old{i}", account_id=c.choice(ACCOUNTS),
                     rep_id=self.busy_rep(), stage=Stage.CLOSED_WON,
                     amount=c.choice(AMOUNTS[1:]), currency="EUR",
                     expected_close_date=when.date(),
                     created_at=when - dt.timedelta(days=c.integer(1, 120)))

    def deals(self) -> None:
        c = self.c
        self.deal_list: list[tuple[str, str]] = []  # (deal_id, account_id)
        self.deal_owner: dict[str, str] = {}
        for k in range(c.integer(0, self.cfg.max_deals)):
            deal_id, account = f"d{k}", c.choice(ACCOUNTS)
            self.deal_list.append((deal_id, account))
            minute = self.minute()
            when = self.at(minute)
            state = {
                "deal_id": deal_id,
                "account_id": account,
                "rep_id": self.busy_rep(),
                "stage": c.choice([*OPEN_STAGES[:3], Stage.CLOSED_WON] if c.chance(0.2)
                                  else OPEN_STAGES[:2]),
                "amount": c.choice(AMOUNTS),
                "currency": "EUR",
                "expected_close_date": None if c.chance(0.15)
                else (self.base + dt.timedelta(minutes=minute, days=c.integer(-10, 100))).date(),
                "kind": c.choice(list(DealKind)),
                "created_at": when - dt.timedelta(days=c.integer(0, 60), minutes=7),
                "next_step": c.choice([None, "", "demo"]),
                "decision_maker": c.choice([None, "", "CFO"]),
                "snoozed_until": None,
                "snooze_reason": None,
            }
            self.add(DealUpdated, when, **state)
            for _ in range(c.integer(0, self.cfg.max_updates - 1)):
                # 1 in 10: a tie (same instant as the previous update, ordered by event_id)
                if not c.chance(0.1):
                    minute = min(SPAN_MINUTES, minute + c.integer(1, 25 * 1440))
                    when = self.at(minute)
                for _ in range(c.integer(1, 2)):
                    self.mutate(state, when)
                self.add(DealUpdated, when, **state)
            self.deal_owner[deal_id] = state["rep_id"]

    def mutate(self, s: dict, when: dt.datetime) -> None:
        c = self.c
        order = [*OPEN_STAGES]
        op = c.choice(("advance", "advance", "skip", "back", "won", "lost", "reopen", "owner",
                       "amount", "push", "pull", "clear_ecd", "snooze", "unsnooze",
                       "fields", "same", "account", "kind", "created"))
        stage = s["stage"]
        is_open = stage in order
        if op == "advance" and is_open:
            i = order.index(stage)
            s["stage"] = order[i + 1] if i + 1 < len(order) else Stage.CLOSED_WON
        elif op == "skip" and is_open:
            i = order.index(stage)
            s["stage"] = order[min(i + c.integer(2, 3), len(order) - 1)]
        elif op == "back" and is_open:
            s["stage"] = order[max(0, order.index(stage) - 1)]
        elif op in ("won", "lost"):
            s["stage"] = Stage.CLOSED_WON if op == "won" else Stage.CLOSED_LOST
        elif op == "reopen" and not is_open:
            s["stage"] = c.choice(order)
        elif op == "owner":
            s["rep_id"] = c.choice(self.reps)
        elif op == "amount":
            s["amount"] = c.choice(AMOUNTS)
        elif op in ("push", "pull"):
            base = s["expected_close_date"] or when.date()
            delta = dt.timedelta(days=c.integer(1, 40))
            s["expected_close_date"] = base + delta if op == "push" else base - delta
        elif op == "clear_ecd":
            s["expected_close_date"] = None
        elif op == "snooze":
            s["snoozed_until"] = when.date() + dt.timedelta(days=c.integer(0, 30))
            s["snooze_reason"] = "customer on holiday"
        elif op == "unsnooze":
            s["snoozed_until"] = None
            s["snooze_reason"] = None
        elif op == "account":
            s["account_id"] = c.choice(ACCOUNTS)
        elif op == "kind":
            s["kind"] = c.choice(list(DealKind))
        elif op == "created":
            s["created_at"] = s["created_at"] - dt.timedelta(days=c.integer(1, 30))
        elif op == "fields":
            s["next_step"] = c.choice([None, "", "send contract"])
            s["decision_maker"] = c.choice([None, "", "COO"])

    def approvals_and_discounts(self) -> None:
        c = self.c
        deal_ids = [d for d, _ in self.deal_list] or ["d-none"]
        for k in range(c.integer(0, self.cfg.max_discounts)):
            deal_id = c.choice(deal_ids)
            rep = self.deal_owner.get(deal_id) if c.chance(0.5) else None
            rep = rep or self.busy_rep()
            pct = c.choice(PCTS)
            minute = max(2 * 1440, self.minute())
            grant_at = self.at(minute)
            mode = c.choice(("alone", "alone", "approved", "approved", "rejected",
                             "not_covering", "after_grant", "missing", "no_request",
                             "decision_without_pct", "executive"))
            approval_id = None
            if mode != "alone":
                approval_id = f"ap{k}"
            if mode not in ("alone", "missing"):
                requested = pct if mode != "not_covering" else max(0.0, pct - 5.0)
                req_min = minute - c.integer(60, 2 * 1440)
                if mode != "no_request":
                    self.add(ApprovalRequested, self.at(req_min), approval_id=approval_id,
                             deal_id=deal_id, rep_id=rep, requested_discount_pct=requested)
                dec_min = (minute + c.integer(1, 3 * 1440) if mode == "after_grant"
                           else minute - c.integer(1, 59))
                decider = EXECUTIVE if mode == "executive" else c.choice(
                    (f"m-{self.rostered.get(rep, ('amer',))[0]}", "m-other"))
                pct_on_decision: float | None = requested
                # Without pct on the decision the request's applies; with no request
                # either, the coverage cannot be known.
                if mode == "decision_without_pct" or (mode == "no_request" and c.chance(0.5)):
                    pct_on_decision = None
                self.add(ApprovalDecided, self.at(dec_min), approval_id=approval_id,
                         deal_id=deal_id, rep_id=rep, requested_discount_pct=pct_on_decision,
                         decided_by=decider,
                         decision=Decision.REJECTED if mode == "rejected" else Decision.APPROVED)
                if mode == "rejected" and self.cfg.second_decisions and c.chance(0.5):
                    self.add(ApprovalDecided, self.at(minute - c.integer(1, 59)),
                             approval_id=approval_id, deal_id=deal_id, rep_id=rep,
                             requested_discount_pct=pct, decided_by=EXECUTIVE,
                             decision=Decision.APPROVED)
            self.add(DiscountGranted, grant_at, deal_id=deal_id, rep_id=rep, discount_pct=pct,
                     list_amount=c.choice(AMOUNTS[1:]), approval_id=approval_id,
                     approved_by=None if approval_id is None else "m-x")
        for k in range(c.integer(0, self.cfg.max_requests)):
            rep = self.busy_rep()
            self.add(ApprovalRequested, self.at(self.minute()), approval_id=f"solo{k}",
                     deal_id=c.choice(deal_ids), rep_id=rep,
                     requested_discount_pct=c.choice(PCTS))

    def activity(self) -> None:
        c = self.c
        for k in range(c.integer(0, self.cfg.max_notes)):
            if self.deal_list and c.chance(0.6):
                deal_id, account = c.choice(self.deal_list)
                if c.chance(0.1):
                    account = c.choice(ACCOUNTS)  # a note on a deal, filed on another account
            else:
                deal_id, account = None, c.choice(ACCOUNTS)
            self.add(NoteLogged, self.at(self.minute()), note_id=f"n{k}", account_id=account,
                     deal_id=deal_id, rep_id=c.choice(self.reps), body=c.choice(BODIES))
        for k in range(c.integer(0, self.cfg.max_leads)):
            self.add(LeadQualified, self.at(self.minute()), lead_id=f"l{k}",
                     rep_id=self.busy_rep(), icp_fit=c.chance(0.7))
        for rep in self.reps:
            for period in self.periods():
                if c.chance(0.7):
                    for _ in range(c.integer(1, 2)):
                        self.add(QuotaSet, self.at(self.minute()), rep_id=rep, period=period,
                                 amount=c.choice(QUOTA_AMOUNTS), currency="EUR")
        for _ in range(c.integer(0, self.cfg.max_coaching)):
            self.add(CoachingLogged, self.at(self.minute()), rep_id=c.choice(self.reps),
                     practice="multi-threading", applied=c.chance(0.6))
        for _ in range(c.integer(0, self.cfg.max_surveys)):
            self.add(SurveySubmitted, self.at(self.minute()), rep_id=c.choice(self.reps),
                     account_id=c.choice(ACCOUNTS), kind=c.choice(list(SurveyKind)),
                     score=c.choice(SCORES))

    def burst(self) -> None:
        """Enough recent activity of r1 for the windowed KPIs to reach their min samples:
        decisions, leads, alignment surveys, closes (and wins a year earlier)."""
        c = self.c
        if not c.chance(self.cfg.burst_chance):
            return
        rep = self.reps[0]

        def recent() -> int:
            return SPAN_MINUTES - c.integer(0, 29 * 1440)

        for k in range(c.integer(3, 9)):
            if c.chance(0.7):
                self.add(DiscountGranted, self.at(recent()), deal_id="d-burst", rep_id=rep,
                         discount_pct=c.choice(PCTS), list_amount=10_000.0)
            else:
                self.add(ApprovalRequested, self.at(recent()), approval_id=f"burst{k}",
                         deal_id="d-burst", rep_id=rep, requested_discount_pct=c.choice(PCTS))
        for k in range(c.integer(5, 16)):
            self.add(LeadQualified, self.at(recent()), lead_id=f"bl{k}", rep_id=rep,
                     icp_fit=c.chance(0.85))
        for _ in range(c.integer(2, 5)):
            self.add(SurveySubmitted, self.at(recent()), rep_id=rep, account_id="a1",
                     kind=SurveyKind.CUSTOMER_ALIGNMENT, score=c.choice(SCORES))
        for k in range(c.integer(2, 7)):
            minute = SPAN_MINUTES - c.integer(0, 80 * 1440)
            opened = self.at(minute - c.integer(1, 20 * 1440))
            common = {"deal_id": f"bc{k}", "account_id": c.choice(ACCOUNTS), "rep_id": rep,
                      "amount": c.choice(AMOUNTS[1:]), "currency": "EUR",
                      "kind": c.choice(list(DealKind)),
                      "created_at": opened - dt.timedelta(days=c.integer(0, 90))}
            self.add(DealUpdated, opened, stage=Stage.QUALIFICATION, **common)
            self.add(DealUpdated, self.at(minute),
                     stage=Stage.CLOSED_WON if c.chance(0.6) else Stage.CLOSED_LOST, **common)
        for k in range(c.integer(0, 4)):
            when = self.at(SPAN_MINUTES - c.integer(0, 80 * 1440)) - dt.timedelta(days=365)
            self.add(DealUpdated, when, deal_id=f"bold{k}", account_id=c.choice(ACCOUNTS),
                     rep_id=rep, stage=Stage.CLOSED_WON, amount=c.choice(AMOUNTS[1:]),
                     currency="EUR", created_at=when - dt.timedelta(days=c.integer(1, 120)))

    def finish(self, rnd: random.Random) -> list[Event]:
        ids = list(range(len(self.events)))
        rnd.shuffle(ids)  # event_id order unrelated to time: ties are broken by id
        out = [msgspec.structs.replace(ev, event_id=f"e{ids[i]:04d}")
               for i, ev in enumerate(self.events)]
        out.sort(key=lambda e: (e.occurred_at, e.event_id))
        return out


def build_stream(c: Chooser, cfg: StreamConfig, rnd: random.Random) -> list[Event]:
    b = _Builder(c, cfg)
    b.roster()
    b.history_wins()
    b.deals()
    b.approvals_and_discounts()
    b.activity()
    b.burst()
    return b.finish(rnd)


@st.composite
def event_streams(draw, cfg: StreamConfig | None = None) -> list[Event]:
    """A time-ordered random stream (hypothesis strategy)."""
    rnd = draw(st.randoms(use_true_random=False))
    return build_stream(HypothesisChooser(draw), cfg or StreamConfig(), rnd)


def random_stream(seed: int, cfg: StreamConfig | None = None) -> list[Event]:
    """A time-ordered random stream from a seed (benchmarks, debugging)."""
    rnd = random.Random(seed)
    return build_stream(RandomChooser(rnd), cfg or StreamConfig(), rnd)


# --------------------------------------------------------------------------- reorderings


def lateness_of(policy: Policy) -> dt.timedelta:
    return dt.timedelta(days=policy.lateness_days)


def late_positions(events: list[Event], lateness: dt.timedelta) -> list[int]:
    """Positions of events that would be late (ignoring de-duplication effects on T)."""
    out, now = [], None
    for i, ev in enumerate(events):
        if now is not None and ev.occurred_at < now - lateness:
            out.append(i)
            continue
        now = ev.occurred_at if now is None else max(now, ev.occurred_at)
    return out


def shuffle_within_bound(
    events: list[Event], rnd: random.Random, lateness: dt.timedelta
) -> list[Event]:
    """A permutation of time-ordered ``events`` in which no event becomes late.

    Each event arrives at ``occurred_at + delay`` with ``0 <= delay < lateness``: any event
    arriving before it occurred before its own occurred_at + lateness, so T never exceeds
    it by the bound. Half of the events are not delayed at all.
    """
    bound = lateness.total_seconds() * 0.999
    keyed = []
    for i, ev in enumerate(events):
        delay = 0.0 if rnd.random() < 0.5 else rnd.uniform(0, bound)
        keyed.append((ev.occurred_at + dt.timedelta(seconds=delay), i, ev))
    keyed.sort(key=lambda k: (k[0], k[1]))
    out = [ev for _, _, ev in keyed]
    assert not late_positions(out, lateness)
    return out


def inject_duplicates(
    events: list[Event], rnd: random.Random, lateness: dt.timedelta, count: int
) -> tuple[list[Event], set[str]]:
    """Insert ``count`` repeats of accepted events, each at a position where the original
    is not late (so the repeat is a duplicate, not late); about half of the repeats carry a
    modified payload (same event_id, different content: must still be ignored)."""
    out = list(events)
    dup_ids: set[str] = set()
    for _ in range(count):
        if not out:
            break
        i = rnd.randrange(len(out))
        original = out[i]
        # Furthest position after i where the original is still within the bound.
        now = max(e.occurred_at for e in out[: i + 1])
        j = i + 1
        candidates = [j]
        while j < len(out):
            now = max(now, out[j].occurred_at)
            if original.occurred_at < now - lateness:
                break
            j += 1
            candidates.append(j)
        repeat = original
        if rnd.random() < 0.5:
            repeat = _altered(original)
        out.insert(rnd.choice(candidates), repeat)
        dup_ids.add(original.event_id)
    return out, dup_ids


def _altered(ev: Event) -> Event:
    if isinstance(ev, DealUpdated):
        return msgspec.structs.replace(ev, amount=ev.amount + 1234.0, stage=Stage.CLOSED_WON)
    if isinstance(ev, DiscountGranted):
        return msgspec.structs.replace(ev, discount_pct=99.0)
    if isinstance(ev, NoteLogged):
        return msgspec.structs.replace(ev, body="A long qualifying note body, altered copy.")
    if isinstance(ev, QuotaSet):
        return msgspec.structs.replace(ev, amount=ev.amount + 1.0)
    return ev


def inject_late(
    events: list[Event], rnd: random.Random, lateness: dt.timedelta, count: int
) -> tuple[list[Event], set[str]]:
    """Insert ``count`` new events (fresh ids) whose occurred_at is older than the
    watermark at their arrival position: copies of earlier events with changed content."""
    out = list(events)
    late_ids: set[str] = set()
    for k in range(count):
        if len(out) < 2:
            break
        p = rnd.randrange(1, len(out) + 1)
        now = max(e.occurred_at for e in out[:p])
        when = now - lateness - dt.timedelta(minutes=rnd.randint(1, 20 * 1440), microseconds=k)
        template = rnd.choice(out[:p])
        eid = f"late{k}"
        ev = msgspec.structs.replace(_altered(template), event_id=eid, occurred_at=when)
        if isinstance(ev, RepUpdated):
            ev = msgspec.structs.replace(ev, tier="junior", team="late-team")
        out.insert(p, ev)
        late_ids.add(eid)
    return out, late_ids


# --------------------------------------------------------------------------- hand-written


class EventFactory:
    """Terse constructors for hand-written examples: ``f.deal(f.t(-3), "d1", stage=...)``.

    Times are given relative to ``origin`` with ``t(days, hours=0, seconds=0, micro=0)``;
    event ids are ``x0001``, ``x0002``… in creation order unless given.
    """

    def __init__(self, origin: dt.datetime = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)):
        self.origin = origin
        self._n = 0

    def t(self, days: float = 0, hours: float = 0, seconds: float = 0,
          micro: int = 0) -> dt.datetime:
        return self.origin + dt.timedelta(days=days, hours=hours, seconds=seconds,
                                          microseconds=micro)

    def _env(self, at: dt.datetime, event_id: str | None) -> dict:
        self._n += 1
        return {"event_id": event_id or f"x{self._n:04d}", "schema_version": 1,
                "occurred_at": at, "source": "test"}

    def rep(self, at, rep_id, *, team="amer", tier="junior", active=True, event_id=None):
        return RepUpdated(**self._env(at, event_id), rep_id=rep_id, team=team, region="north",
                          manager_id=f"m-{team}", tier=tier, active=active)

    def deal(self, at, deal_id, *, rep="r1", stage=Stage.PROSPECTING, amount=1000.0,
             account="a1", ecd: dt.date | None = None, kind=DealKind.NEW_BUSINESS,
             created_at=None, next_step="demo", decision_maker="CFO", snoozed_until=None,
             event_id=None):
        return DealUpdated(**self._env(at, event_id), deal_id=deal_id, account_id=account,
                           rep_id=rep, stage=Stage(stage), amount=amount, currency="EUR",
                           expected_close_date=ecd, kind=DealKind(kind),
                           created_at=created_at or self.t(-200), next_step=next_step,
                           decision_maker=decision_maker, snoozed_until=snoozed_until,
                           snooze_reason="holiday" if snoozed_until else None)

    def discount(self, at, rep, pct, *, deal="d1", approval_id=None, list_amount=10_000.0,
                 event_id=None):
        return DiscountGranted(**self._env(at, event_id), deal_id=deal, rep_id=rep,
                               discount_pct=pct, list_amount=list_amount,
                               approval_id=approval_id,
                               approved_by="m-amer" if approval_id else None)

    def request(self, at, rep, pct, *, approval_id="ap1", deal="d1", event_id=None):
        return ApprovalRequested(**self._env(at, event_id), approval_id=approval_id,
                                 deal_id=deal, rep_id=rep, requested_discount_pct=pct)

    def decided(self, at, rep, *, approval_id="ap1", pct=None, by="m-amer",
                decision=Decision.APPROVED, deal="d1", event_id=None):
        return ApprovalDecided(**self._env(at, event_id), approval_id=approval_id,
                               deal_id=deal, rep_id=rep, requested_discount_pct=pct,
                               decided_by=by, decision=Decision(decision))

    def note(self, at, rep, body, *, account="a1", deal=None, event_id=None):
        return NoteLogged(**self._env(at, event_id), note_id=f"n{self._n + 1}",
                          account_id=account, deal_id=deal, rep_id=rep, body=body)

    def lead(self, at, rep, icp_fit=True, *, event_id=None):
        return LeadQualified(**self._env(at, event_id), lead_id=f"l{self._n + 1}",
                             rep_id=rep, icp_fit=icp_fit)

    def quota(self, at, rep, period, amount, *, event_id=None):
        return QuotaSet(**self._env(at, event_id), rep_id=rep, period=period, amount=amount,
                        currency="EUR")

    def coaching(self, at, rep, applied, *, event_id=None):
        return CoachingLogged(**self._env(at, event_id), rep_id=rep, practice="mutual plan",
                              applied=applied)

    def survey(self, at, rep, score, *, kind=SurveyKind.CUSTOMER_ALIGNMENT, account="a1",
               event_id=None):
        return SurveySubmitted(**self._env(at, event_id), rep_id=rep, account_id=account,
                               kind=SurveyKind(kind), score=score)


# --------------------------------------------------------------------------- policies


def policy_variants() -> dict[str, Policy]:
    """Policies the properties run under: the defaults plus variants that switch on the
    optional behaviours (business days, short notes where placeholders matter, skipping
    allowed with a shorter lateness bound, team overrides and a lower high-value bar)."""
    p = policy_with_executive()
    return {
        "default": p,
        "business-days": replace(p, stages=replace(p.stages, business_days=True)),
        "short-notes": replace(p, notes=NoteQuality(min_chars=1)),
        "skips-allowed-lateness-3d": replace(
            p, stages=replace(p.stages, forbid_skipping=False), lateness_days=3.0),
        "team-bands": replace(
            p,
            team_bands={"emea": {
                "pipeline_coverage": Band(2.0, 1.0),
                "qualified_leads": Band(3, 1, min_sample=1),
                "autonomy_level": Band(0.6, 0.3, min_sample=2),
                "stalled_high_value_clusters": Band(1, 2, Direction.LOWER_IS_BETTER),
            }},
            high_value_amount=20_000.0,
            high_value_cluster=2,
        ),
    }


def policies() -> st.SearchStrategy[Policy]:
    return st.sampled_from(list(policy_variants().values()))
