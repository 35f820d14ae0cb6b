"""One simulated rep's behaviour, day by day: deals through the stages, notes, discount
decisions (alone or escalated), leads, coaching and surveys, as its persona dictates.

All randomness comes from the rep's own ``random.Random`` (seeded by the scenario seed and
the rep id); event ids are the seed, the rep id and a per-rep serial, so they are unique
and reproducible.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from schemas import events as ev
from simulator.personas import PRACTICES, Persona

SOURCE = "latitude-simulator"
STAGES = ("prospecting", "qualification", "proposal", "negotiation")
DECISION_MAKERS = ("CFO", "VP Operations", "Head of IT", "COO")
NEXT_STEPS = ("Decision meeting booked", "Send the order form", "Legal review of the MSA")
HOUR = 3600


@dataclass(slots=True)
class _Deal:
    deal_id: str
    account_id: str
    kind: ev.DealKind
    created_at: dt.datetime
    list_amount: float
    stage: int  # index in STAGES
    stage_ends: list[int]  # day on which each remaining stage ends; [0] is the current one
    won: bool
    expected_close: dt.date
    amount: float = 0.0
    next_push: int | None = None

    def __post_init__(self) -> None:
        self.amount = self.list_amount


@dataclass(slots=True)
class _Account:
    account_id: str
    deal: _Deal | None = None
    next_deal_day: int = 0
    next_note_day: int = 0
    won_before: bool = False


@dataclass(slots=True)
class RepSim:
    """One rep's behaviour over the scenario's days (its own random generator)."""

    seed: int
    rep_id: str
    manager_id: str
    persona: Persona
    midnight: dt.datetime
    activity: float
    accounts_per_rep: int
    limit: float  # the rep's own discount authority
    rng: random.Random = field(init=False)
    out: list[ev.Event] = field(default_factory=list)
    serial: int = 0
    accounts: list[_Account] = field(default_factory=list)
    fit_credit: float = 0.0

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}/{self.rep_id}")
        self.fit_credit = self.rng.random()

    # -------------------------------------------------------------------- helpers

    def _id(self, kind: str) -> str:
        self.serial += 1
        return f"sim{self.seed}-{self.rep_id}-{kind}-{self.serial:05d}"

    def _at(self, day: int, first_hour: int = 8, last_hour: int = 15) -> dt.datetime:
        seconds = self.rng.randrange(first_hour * HOUR, last_hour * HOUR)
        return self.midnight + dt.timedelta(days=day, seconds=seconds)

    def _date(self, day: int) -> dt.date:
        return self.midnight.date() + dt.timedelta(days=day)

    def _env(self, kind: str, at: dt.datetime) -> dict:
        return {"event_id": self._id(kind), "schema_version": 1, "occurred_at": at,
                "source": SOURCE}

    def _times(self, per_week: float, low: int = 0) -> int:
        """How many times something with a weekly rate happens on one weekday."""
        rate = per_week * self.activity / 5
        whole = int(rate)
        return max(low, whole + (1 if self.rng.random() < rate - whole else 0))

    # ------------------------------------------------------------------------ run

    def run(self, days: int) -> list[ev.Event]:
        p, rng = self.persona, self.rng
        for i in range(self.accounts_per_rep):
            account = _Account(f"acct-{self.rep_id}-{i + 1}")
            account.next_note_day = rng.randint(0, 2)
            account.won_before = rng.random() < 0.35  # an existing customer: expansion
            self.accounts.append(account)
        coaching_day, survey_day = rng.randint(0, 13), rng.randint(0, 6)
        autonomy_day = rng.randint(0, 20)
        for day in range(days):
            if self._date(day).weekday() >= 5:
                continue
            for account in self.accounts:
                self._deal_day(account, day, first=(day < 3))
                self._note_day(account, day)
            for _ in range(self._times(p.extra_discounts_per_week)):
                open_deals = [a.deal for a in self.accounts
                              if a.deal is not None and a.deal.stage >= 1]
                if open_deals:
                    self._discount(rng.choice(open_deals), day)
            for _ in range(self._times(p.leads_per_week)):
                # ICP fit at the persona's exact rate (error diffusion, random phase), so a
                # month's count does not swing with the draws.
                self.fit_credit += p.icp_fit
                fits = self.fit_credit >= 1.0
                self.fit_credit -= fits
                self.out.append(ev.LeadQualified(
                    **self._env("lead", self._at(day)), lead_id=self._id("L"),
                    rep_id=self.rep_id, icp_fit=fits))
            if day >= coaching_day:
                coaching_day = day + 14
                self.out.append(ev.CoachingLogged(
                    **self._env("coaching", self._at(day)), rep_id=self.rep_id,
                    practice=rng.choice(PRACTICES), applied=rng.random() < p.coaching_applied))
            if day >= survey_day:
                survey_day = day + rng.randint(6, 12)
                self._survey(day, ev.SurveyKind.CUSTOMER_ALIGNMENT, p.alignment_score)
            if day >= autonomy_day:
                autonomy_day = day + 30
                self._survey(day, ev.SurveyKind.REP_AUTONOMY, p.autonomy_score)
        return self.out

    def _survey(self, day: int, kind: ev.SurveyKind, scores: tuple[int, int]) -> None:
        # A rep-autonomy survey also names an account: the rep's first, always active.
        account = self.rng.choice(self.accounts) if kind == "customer_alignment" \
            else self.accounts[0]
        self.out.append(ev.SurveySubmitted(
            **self._env("survey", self._at(day, 9, 17)), rep_id=self.rep_id,
            account_id=account.account_id, kind=kind, score=float(self.rng.randint(*scores))))

    # ---------------------------------------------------------------------- deals

    def _deal_day(self, account: _Account, day: int, first: bool) -> None:
        deal = account.deal
        if deal is None:
            if day >= account.next_deal_day and (not first or self.rng.random() < 0.6):
                account.deal = self._open_deal(account, day, in_flight=first)
            return
        p = self.persona
        if day >= deal.stage_ends[0]:
            self._advance(account, deal, day)
        elif deal.next_push is not None and day >= deal.next_push:
            deal.expected_close += dt.timedelta(days=30)
            deal.next_push = day + p.push_close_every_days
            self._update(deal, day)

    def _open_deal(self, account: _Account, day: int, in_flight: bool) -> _Deal:
        """A new deal in prospecting, or (scenario start) one already under way."""
        p, rng = self.persona, self.rng
        stage = rng.choice((0, 0, 1, 1, 2, 3)) if in_flight else 0
        durations = [rng.randint(*p.stage_days) for _ in STAGES[stage:]]
        ends, end = [], day
        for length in durations:
            end += length
            ends.append(end)
        age = sum(rng.randint(*p.stage_days) for _ in range(stage)) + rng.randint(0, 5)
        created = self._at(day - age) if in_flight else self._at(day)
        total = (ends[-1] - (created - self.midnight).days) * p.close_date_realism
        expected = created.date() + dt.timedelta(days=round(total) + rng.randint(3, 10))
        deal = _Deal(
            deal_id=self._id("deal"), account_id=account.account_id,
            kind=ev.DealKind.EXPANSION if account.won_before else ev.DealKind.NEW_BUSINESS,
            created_at=created, list_amount=float(rng.randrange(*p.deal_amount, 500)),
            stage=stage, stage_ends=ends, won=rng.random() < p.win_rate,
            expected_close=max(expected, self._date(day) + dt.timedelta(days=3)),
        )
        self._update(deal, day, at=max(created, self._at(day)))
        self._maybe_stick(deal, day)
        return deal

    def _maybe_stick(self, deal: _Deal, day: int) -> None:
        p = self.persona
        if STAGES[deal.stage] == p.stick_in_stage and self.rng.random() < p.stick_chance:
            deal.stage_ends[0] = 1 << 30  # sits here for good
            if p.push_close_every_days:
                deal.next_push = day + p.push_close_every_days

    def _advance(self, account: _Account, deal: _Deal, day: int) -> None:
        deal.stage_ends.pop(0)
        if not deal.stage_ends or (not deal.won and STAGES[deal.stage] == "proposal"
                                   and self.rng.random() < 0.5):
            self._close(account, deal, day)
            return
        deal.stage += 1
        at = self._update(deal, day)
        if STAGES[deal.stage] == "proposal" or (
                STAGES[deal.stage] == "negotiation" and self.rng.random() < 0.5):
            self._discount(deal, day, after=at)
        self._maybe_stick(deal, day)

    def _close(self, account: _Account, deal: _Deal, day: int) -> None:
        stage = ev.Stage.CLOSED_WON if deal.won else ev.Stage.CLOSED_LOST
        self._update(deal, day, stage=stage)
        account.deal = None
        account.won_before = account.won_before or deal.won
        account.next_deal_day = day + self.rng.randint(3, 15)

    def _update(self, deal: _Deal, day: int, *, at: dt.datetime | None = None,
                stage: ev.Stage | None = None) -> dt.datetime:
        p = self.persona
        current = stage or ev.Stage(STAGES[deal.stage])
        fills = p.fills_negotiation_fields and current == ev.Stage.NEGOTIATION
        when = at or self._at(day)
        self.out.append(ev.DealUpdated(
            **self._env("deal", when), deal_id=deal.deal_id, account_id=deal.account_id,
            rep_id=self.rep_id, stage=current, amount=deal.amount, currency="EUR",
            expected_close_date=deal.expected_close, kind=deal.kind,
            created_at=deal.created_at,
            next_step=self.rng.choice(NEXT_STEPS) if fills else None,
            decision_maker=self.rng.choice(DECISION_MAKERS) if fills else None,
        ))
        return when

    def _discount(self, deal: _Deal, day: int, after: dt.datetime | None = None) -> None:
        """Decide a discount on ``deal``: alone, or escalated to the manager first."""
        rng, limit = self.rng, self.limit
        pct, escalate = self.persona.decide_discount(rng, limit)
        at = after + dt.timedelta(minutes=rng.randint(5, 90)) if after else self._at(day)
        common = {"deal_id": deal.deal_id, "rep_id": self.rep_id}
        approval_id = approved_by = None
        if escalate:
            approval_id, approved_by = self._id("approval"), self.manager_id
            self.out.append(ev.ApprovalRequested(
                **self._env("request", at), **common, approval_id=approval_id,
                requested_discount_pct=pct))
            at += dt.timedelta(seconds=rng.randint(1 * HOUR, 4 * HOUR))
            self.out.append(ev.ApprovalDecided(
                **self._env("decision", at), **common, approval_id=approval_id,
                requested_discount_pct=pct, decided_by=approved_by,
                decision=ev.Decision.APPROVED))
            at += dt.timedelta(minutes=rng.randint(5, 40))
        self.out.append(ev.DiscountGranted(
            **self._env("discount", at), **common, discount_pct=pct,
            list_amount=deal.list_amount, approved_by=approved_by, approval_id=approval_id))
        deal.amount = round(deal.list_amount * (1 - pct / 100), 2)

    # ---------------------------------------------------------------------- notes

    def _note_day(self, account: _Account, day: int) -> None:
        p, rng = self.persona, self.rng
        if day < account.next_note_day:
            return
        low, high = p.note_every_days
        account.next_note_day = day + max(1, round(rng.randint(low, high) / self.activity))
        deal = account.deal
        self.out.append(ev.NoteLogged(
            **self._env("note", self._at(day, 9, 18)), note_id=self._id("N"),
            account_id=account.account_id,
            deal_id=deal.deal_id if deal is not None and p.notes_on_deal else None,
            rep_id=self.rep_id, body=p.write_note(rng)))

