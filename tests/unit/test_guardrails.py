"""Every guardrail rule fires where it must and not where it must not
(streams/guardrails.py, streams/approvals.py, through the engine)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from schemas.events import Decision, Stage
from schemas.outputs import Severity
from streams.engine import Engine
from streams.policy_model import Approvals, default_policy
from tests.strategies import EventFactory

POLICY = replace(default_policy(), approvals=Approvals(30.0, frozenset({"vp-1"})))
ECD = dt.date(2026, 9, 1)


class Run:
    """An engine fed in order, remembering every violation fired."""

    def __init__(self, *events, policy=POLICY) -> None:
        self.engine = Engine(policy)
        self.fired: dict[str, object] = {}
        self.feed(*events)

    def feed(self, *events) -> Run:
        for event in events:
            for violation in self.engine.apply(event).violations:
                assert violation.violation_id not in self.fired, "emitted twice"
                self.fired[violation.violation_id] = violation
        return self

    def advance(self, when: dt.datetime) -> Run:
        for violation in self.engine.advance_to(when):
            assert violation.violation_id not in self.fired, "emitted twice"
            self.fired[violation.violation_id] = violation
        return self

    def ids(self, rule: str) -> set[str]:
        return {vid for vid in self.fired if vid.startswith(rule + ":")}

    def pending(self) -> set[str]:
        return set(self.engine.pending_violations())


# ------------------------------------------------------------------ discounts, approvals


def test_discount_within_authority_fires_nothing() -> None:
    f = EventFactory()
    assert Run(f.discount(f.t(0), "r1", 10.0)).fired == {}


def test_discount_over_authority_without_approval_fires_at_once() -> None:
    f = EventFactory()
    grant = f.discount(f.t(0), "r1", 10.01)
    run = Run(grant)
    violation = run.fired[f"discount_over_authority:{grant.event_id}"]
    assert violation.severity == Severity.CRITICAL and violation.team == "unassigned"
    assert violation.values["limit_pct"] == 10.0 and violation.event_id == grant.event_id


def test_the_roster_known_at_processing_time_sets_the_limit() -> None:
    f = EventFactory()
    run = Run(f.rep(f.t(-1), "r1", tier="senior", team="amer"), f.discount(f.t(0), "r1", 20.0))
    assert run.fired == {}
    run.feed(f.rep(f.t(1), "r1", tier="junior"), f.discount(f.t(2), "r1", 20.0))
    assert len(run.ids("discount_over_authority")) == 1


@pytest.mark.parametrize(("decision", "fires"), [
    (dict(pct=15.0), False),
    (dict(pct=15.0, decision=Decision.REJECTED), True),
    (dict(pct=14.0), True),  # does not cover
    (dict(pct=15.0, at_days=0.5), True),  # decided after the grant
])
def test_grants_judged_against_a_known_decision(decision: dict, fires: bool) -> None:
    f = EventFactory()
    at_days = decision.pop("at_days", -1)
    run = Run(f.decided(f.t(at_days), "r1", approval_id="ap", **decision),
              f.discount(f.t(0), "r1", 15.0, approval_id="ap"))
    assert bool(run.ids("discount_over_authority")) is fires
    assert run.pending() == set()


def test_only_executives_approve_above_the_manager_limit() -> None:
    f = EventFactory()
    manager = Run(f.decided(f.t(-1), "r1", approval_id="ap", pct=35.0),
                  f.discount(f.t(0), "r1", 35.0, approval_id="ap"))
    assert manager.ids("discount_over_authority")
    executive = Run(f.decided(f.t(-1), "r1", approval_id="ap", pct=35.0, by="vp-1"),
                    f.discount(f.t(0), "r1", 35.0, approval_id="ap"))
    assert not executive.ids("discount_over_authority")


def test_an_unknown_approval_waits_for_the_watermark_strictly() -> None:
    f = EventFactory()
    grant = f.discount(f.t(-7), "r1", 15.0, approval_id="ap")
    vid = f"discount_over_authority:{grant.event_id}"
    run = Run(grant, f.lead(f.t(0), "zz"))  # W == grant time: evidence may still arrive
    assert run.pending() == {vid} and not run.fired
    run.advance(f.t(0, micro=1))
    assert vid in run.fired and run.pending() == set()


def test_a_decision_arriving_later_clears_or_fires_a_waiting_grant() -> None:
    f = EventFactory()
    run = Run(f.discount(f.t(0), "r1", 15.0, approval_id="ok"),
              f.discount(f.t(0), "r1", 15.0, approval_id="no"),
              f.discount(f.t(0), "r1", 15.0, approval_id="via-request"))
    assert len(run.pending()) == 3
    run.feed(f.decided(f.t(-1), "r1", approval_id="ok", pct=20.0),
             f.decided(f.t(-1), "r1", approval_id="no", decision=Decision.REJECTED),
             f.decided(f.t(-1), "r1", approval_id="via-request"))  # pct unknown yet
    assert len(run.ids("discount_over_authority")) == 1 and len(run.pending()) == 1
    run.feed(f.request(f.t(1), "r1", 20.0, approval_id="via-request"))  # after the grant
    assert len(run.pending()) == 1
    run.feed(f.request(f.t(-2), "r1", 20.0, approval_id="via-request"))
    assert run.pending() == set() and len(run.ids("discount_over_authority")) == 1


@pytest.mark.parametrize(("pct", "fires"), [(40.0, False), (40.01, True)])
def test_discount_below_floor(pct: float, fires: bool) -> None:
    f = EventFactory()
    run = Run(f.decided(f.t(-1), "r1", approval_id="ap", pct=50.0, by="vp-1"),
              f.discount(f.t(0), "r1", pct, approval_id="ap"))
    assert bool(run.ids("discount_below_floor")) is fires
    assert not run.ids("discount_over_authority")


@pytest.mark.parametrize(("pct", "fires"), [(10.0, True), (10.01, False)])
def test_unnecessary_escalation(pct: float, fires: bool) -> None:
    f = EventFactory()
    run = Run(f.request(f.t(0), "r1", pct))
    assert bool(run.ids("unnecessary_escalation")) is fires
    if fires:
        (violation,) = run.fired.values()
        assert violation.severity == Severity.INFO


# ------------------------------------------------------------------------ deal rules


def test_missing_required_field_once_per_deal_stage_and_field() -> None:
    f = EventFactory()
    run = Run(f.deal(f.t(-3), "d1", stage=Stage.PROSPECTING, ecd=None, next_step=""),
              f.deal(f.t(-2), "d1", stage=Stage.PROPOSAL, ecd=None),
              f.deal(f.t(-1), "d1", stage=Stage.PROPOSAL, ecd=None, amount=0.0),
              f.deal(f.t(0), "d1", stage=Stage.NEGOTIATION, ecd=ECD, next_step=""))
    assert run.ids("missing_required_field") == {
        "missing_required_field:d1:proposal:expected_close_date",
        "missing_required_field:d1:proposal:amount",
        "missing_required_field:d1:negotiation:next_step",
    }


def test_stage_skipped_is_deferred_until_the_watermark_passes() -> None:
    f = EventFactory()
    first = f.deal(f.t(-20), "d1")
    skip = f.deal(f.t(-10), "d1", stage=Stage.PROPOSAL, ecd=ECD)
    vid = f"stage_skipped:d1:prospecting:proposal:{skip.event_id}"
    run = Run(first, skip, f.deal(f.t(-9), "d1", stage=Stage.NEGOTIATION, ecd=ECD))
    assert run.pending() == {vid}
    run.advance(f.t(-3))  # W == t(-10): not final yet
    assert run.pending() == {vid} and not run.ids("stage_skipped")
    run.advance(f.t(-3, micro=1))
    assert vid in run.fired and run.pending() == set()


def test_an_inserted_update_cancels_a_pending_skip() -> None:
    f = EventFactory()
    run = Run(f.deal(f.t(-20), "d1"), f.deal(f.t(-5), "d1", stage=Stage.PROPOSAL, ecd=ECD))
    assert len(run.pending()) == 1
    run.feed(f.deal(f.t(-10), "d1", stage=Stage.QUALIFICATION))  # on time, in between
    run.advance(f.t(10))
    assert not run.ids("stage_skipped") and run.pending() == set()


def test_skipping_is_allowed_when_the_policy_allows_it() -> None:
    f = EventFactory()
    policy = replace(POLICY, stages=replace(POLICY.stages, forbid_skipping=False))
    run = Run(f.deal(f.t(-20), "d1"), f.deal(f.t(-10), "d1", stage=Stage.NEGOTIATION, ecd=ECD),
              policy=policy)
    run.advance(f.t(10))
    assert not run.ids("stage_skipped")


@pytest.mark.parametrize(("note_days", "fires"), [
    (-1.0, False), (-14.0, False), (0.0, False), (-14.01, True), (0.01, True), (None, True)])
def test_closed_won_without_note(note_days: float | None, fires: bool) -> None:
    f = EventFactory()
    events = [f.deal(f.t(-20), "d1"), f.deal(f.t(-10), "d1", stage=Stage.CLOSED_WON)]
    if note_days is not None:  # a qualifying note on the account, by another rep
        events.append(f.note(f.t(-10 + note_days), "r2", "Customer signed the order form."))
    run = Run(*sorted(events, key=lambda e: e.occurred_at))
    run.advance(f.t(-3))
    assert not run.ids("closed_won_without_note")
    assert bool(run.pending()) is fires
    run.advance(f.t(-2))
    assert bool(run.ids("closed_won_without_note")) is fires


def test_a_placeholder_note_does_not_excuse_a_won_close() -> None:
    f = EventFactory()
    run = Run(f.deal(f.t(-20), "d1"), f.note(f.t(-11), "r1", "call"),
              f.deal(f.t(-10), "d1", stage=Stage.CLOSED_WON))
    run.advance(f.t(0))
    assert run.ids("closed_won_without_note")


# --------------------------------------------------------------- point-in-time rules


def test_stale_close_date_fires_when_t_passes_it_once_per_date() -> None:
    f = EventFactory()
    ecd = f.t(2).date()
    run = Run(f.deal(f.t(0), "d1", ecd=ecd))
    run.advance(dt.datetime.combine(ecd, dt.time(23, 59), tzinfo=dt.UTC))
    assert not run.ids("stale_close_date")
    run.advance(dt.datetime.combine(ecd + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
    vid = f"stale_close_date:d1:{ecd.isoformat()}"
    assert run.ids("stale_close_date") == {vid}
    assert run.engine.stale_deals() == {"d1"}
    run.feed(f.deal(f.t(4), "d1", ecd=ecd, amount=5.0))  # same date: no second firing
    run.feed(f.deal(f.t(5), "d1", ecd=f.t(30).date()))
    assert run.engine.stale_deals() == set()
    run.feed(f.deal(f.t(6), "d1", ecd=ecd))  # back to the old date: stale, fired already
    assert run.ids("stale_close_date") == {vid} and run.engine.stale_deals() == {"d1"}


def test_closed_deals_are_never_stale() -> None:
    f = EventFactory()
    run = Run(f.deal(f.t(-5), "d1", ecd=f.t(-30).date(), stage=Stage.CLOSED_LOST))
    run.advance(f.t(30))
    assert not run.ids("stale_close_date") and run.engine.stale_deals() == set()


def test_deal_stalled_after_more_than_the_threshold() -> None:
    f = EventFactory()
    run = Run(f.deal(f.t(0), "d1", stage=Stage.PROPOSAL, ecd=ECD))  # 14 days
    run.advance(f.t(14))
    assert not run.ids("deal_stalled") and run.engine.stalled_deals() == set()
    run.advance(f.t(14, micro=1))
    start = f.t(0).isoformat()
    assert run.ids("deal_stalled") == {f"deal_stalled:d1:proposal:{start}"}
    assert run.fired[f"deal_stalled:d1:proposal:{start}"].occurred_at == f.t(14)
    assert run.engine.stalled_deals() == {"d1"}
    assert run.engine.rep_kpis("r1")["stalled_value"].value == 1000.0


def test_a_qualifying_note_or_a_stage_change_restarts_the_stall_clock() -> None:
    f = EventFactory()
    run = Run(f.deal(f.t(0), "d1", stage=Stage.PROPOSAL, ecd=ECD),
              f.note(f.t(10), "r2", "Walked the CFO through the pricing.", deal="d1"),
              f.note(f.t(12), "r1", "n/a", deal="d1"))
    run.advance(f.t(20))
    assert not run.ids("deal_stalled")
    run.advance(f.t(24, micro=1))
    assert run.ids("deal_stalled") == {f"deal_stalled:d1:proposal:{f.t(10).isoformat()}"}
    run.feed(f.deal(f.t(25), "d1", stage=Stage.NEGOTIATION, ecd=ECD))
    assert run.engine.stalled_deals() == set()
    run.advance(f.t(35, micro=1))  # negotiation: 10 days
    assert len(run.ids("deal_stalled")) == 2


def test_a_snoozed_deal_does_not_stall_until_the_snooze_ends() -> None:
    f = EventFactory()
    snooze = f.t(30).date()
    run = Run(f.deal(f.t(0), "d1", stage=Stage.PROPOSAL, ecd=ECD, snoozed_until=snooze))
    run.advance(f.t(30, hours=11))
    assert not run.ids("deal_stalled")
    midnight = dt.datetime.combine(snooze + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    run.advance(midnight)
    (violation,) = run.fired.values()
    assert violation.occurred_at == midnight


def test_business_day_stall_clock() -> None:
    f = EventFactory(origin=dt.datetime(2026, 3, 13, 15, tzinfo=dt.UTC))  # a Friday
    policy = replace(POLICY, stages=replace(POLICY.stages, business_days=True,
                                            stall_days={"proposal": 2}))
    run = Run(f.deal(f.t(0), "d1", stage=Stage.PROPOSAL, ecd=ECD), policy=policy)
    run.advance(dt.datetime(2026, 3, 17, 23, 59, tzinfo=dt.UTC))  # Mon, Tue: 2 days
    assert not run.ids("deal_stalled")
    run.advance(dt.datetime(2026, 3, 18, tzinfo=dt.UTC))
    assert run.ids("deal_stalled")


def test_violations_feed_the_violation_kpis() -> None:
    f = EventFactory()
    run = Run(f.discount(f.t(-8), "r1", 50.0), f.discount(f.t(-1), "r1", 15.0),
              f.request(f.t(-1), "r1", 5.0), f.lead(f.t(0), "r1"))
    kpis = run.engine.rep_kpis("r1")
    assert kpis["critical_violations_7d"].value == 1  # the grant 8 days ago is outside
    assert kpis["violations_30d"].value == 4  # 2 over authority, 1 floor, 1 escalation


def test_an_older_update_of_the_same_stage_moves_the_stall_clock_back() -> None:
    f = EventFactory()
    run = Run(f.deal(f.t(0), "d1", ecd=ECD),
              f.deal(f.t(10), "d1", stage=Stage.PROPOSAL, ecd=ECD),
              f.lead(f.t(14), "r1"))
    assert run.engine.stalled_deals() == set()
    run.feed(f.deal(f.t(7), "d1", stage=Stage.PROPOSAL, ecd=ECD))  # proposal since day 7
    assert run.engine.stalled_deals() == set()
    run.advance(f.t(21, micro=1))
    assert run.ids("deal_stalled") == {f"deal_stalled:d1:proposal:{f.t(7).isoformat()}"}
