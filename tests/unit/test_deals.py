"""The deal-keyed upsert stage: history, current state, deltas (streams/deals.py) and the
stall threshold (streams/stall.py)."""

from __future__ import annotations

import datetime as dt

import msgspec

from schemas.events import DealKind, Stage
from streams import deals as d
from streams.clock import DAY_US, day_of_date, to_micros
from streams.policy_model import StageRules, default_policy
from streams.stall import StallRule
from tests.strategies import EventFactory

F = EventFactory()
RULE = StallRule(default_policy().stages)
NOW = to_micros(F.t(0))


def version(days: float, stage: Stage = Stage.PROSPECTING, *, rep: str = "r1",
            amount: float = 1000.0, ecd: dt.date | None = dt.date(2026, 6, 1),
            event_id: str | None = None, **more) -> d.Version:
    event = F.deal(F.t(days), "d1", rep=rep, stage=stage, amount=amount, ecd=ecd,
                   event_id=event_id, **more)
    return d.version_of(event, to_micros(event.occurred_at))


def apply(state: d.DealState, v: d.Version, now: int = NOW) -> list[d.DealDelta]:
    deltas, _ = d.upsert(state, v)
    return deltas + d.refresh(state, now, RULE)


def items(deltas: list[d.DealDelta], kind: type) -> list[tuple[str, int]]:
    return [(x.rep_id, x.sign) for x in deltas if isinstance(x.item, kind)]


def test_first_update_adds_the_open_item() -> None:
    state = d.DealState(deal_id="d1")
    deltas = apply(state, version(-3, amount=500.0))
    assert [(x.rep_id, x.sign, x.item.amount) for x in deltas] == [("r1", 1, 500.0)]
    assert state.open is not None and state.open.item == d.OpenDeal(
        "d1", "a1", "prospecting", 500.0, day_of_date(dt.date(2026, 6, 1)), False)


def test_owner_change_removes_from_the_old_rep_and_adds_to_the_new() -> None:
    state = d.DealState(deal_id="d1")
    apply(state, version(-3, rep="alice", amount=700.0))
    deltas = apply(state, version(-2, rep="bob", amount=700.0))
    assert [(x.rep_id, x.sign, x.item.amount) for x in deltas] == [
        ("alice", -1, 700.0), ("bob", 1, 700.0)]


def test_amount_change_of_the_same_owner_is_one_add_naming_what_it_replaces() -> None:
    state = d.DealState(deal_id="d1")
    apply(state, version(-3, amount=700.0))
    deltas = apply(state, version(-2, amount=900.0))
    assert [(x.rep_id, x.sign, x.item.amount) for x in deltas] == [("r1", 1, 900.0)]
    assert deltas[0].replaces is not None and deltas[0].replaces.amount == 700.0
    assert state.open is not None and state.open.replaces is None  # no chain is kept
    assert apply(state, version(-1, amount=900.0)) == []  # nothing changed


def test_an_older_update_arriving_late_does_not_override_the_newer_state() -> None:
    state = d.DealState(deal_id="d1")
    apply(state, version(-1, rep="bob", amount=900.0))
    deltas = apply(state, version(-2, rep="alice", amount=100.0))
    assert deltas == []
    assert state.current is not None and state.current.rep_id == "bob"
    assert [v.at for v in state.history] == sorted(v.at for v in state.history)


def test_same_instant_updates_order_by_event_id() -> None:
    state = d.DealState(deal_id="d1")
    apply(state, version(-1, rep="bob", event_id="b"))
    apply(state, version(-1, rep="alice", event_id="a"))
    assert state.current is not None and state.current.rep_id == "bob"


def test_closes_first_closed_update_after_an_open_one() -> None:
    state = d.DealState(deal_id="d1")
    apply(state, version(-10))
    won = apply(state, version(-5, Stage.CLOSED_WON, amount=50.0, kind=DealKind.EXPANSION,
                               created_at=F.t(-15)))
    assert items(won, d.OpenDeal) == [("r1", -1)]
    (close,) = [x.item for x in won if isinstance(x.item, d.Close)]
    assert close.won and close.expansion and close.amount == 50.0
    assert close.cycle_days == 10.0
    assert close.day == to_micros(F.t(-5)) // DAY_US
    assert apply(state, version(-4, Stage.CLOSED_LOST)) == []  # closed to closed: no close
    reopened = apply(state, version(-3, Stage.NEGOTIATION))
    assert items(reopened, d.OpenDeal) == [("r1", 1)]
    lost = apply(state, version(-2, Stage.CLOSED_LOST))
    assert [x.item.won for x in lost if isinstance(x.item, d.Close)] == [False]


def test_a_deal_first_seen_closed_closes_at_once() -> None:
    state = d.DealState(deal_id="d1")
    deltas = apply(state, version(-5, Stage.CLOSED_WON))
    assert items(deltas, d.Close) == [("r1", 1)]
    assert state.open is None


def test_an_inserted_update_moves_the_close() -> None:
    state = d.DealState(deal_id="d1")
    apply(state, version(-10))
    apply(state, version(-2, Stage.CLOSED_WON, event_id="late-close"))
    deltas = apply(state, version(-5, Stage.CLOSED_WON, event_id="early-close"))
    closes = [(x.sign, x.item.event_id) for x in deltas if isinstance(x.item, d.Close)]
    assert sorted(closes) == [(-1, "late-close"), (1, "early-close")]


def test_close_date_pushes() -> None:
    state = d.DealState(deal_id="d1")
    apply(state, version(-10, ecd=dt.date(2026, 6, 1)))
    pushed = apply(state, version(-9, ecd=dt.date(2026, 6, 15)))
    assert items(pushed, d.Push) == [("r1", 1)]
    assert items(apply(state, version(-8, ecd=dt.date(2026, 6, 10))), d.Push) == []
    assert items(apply(state, version(-7, ecd=None)), d.Push) == []


def test_deferred_pairs_are_reported() -> None:
    state = d.DealState(deal_id="d1")
    d.upsert(state, version(-10))
    _, deferred = d.upsert(state, version(-9, Stage.PROPOSAL))  # skips qualification
    assert deferred == [to_micros(F.t(-9))]
    _, deferred = d.upsert(state, version(-8, Stage.NEGOTIATION))
    assert deferred == []
    _, deferred = d.upsert(state, version(-7, Stage.CLOSED_WON))
    assert deferred == [to_micros(F.t(-7))]


def test_prune_keeps_the_anchor_and_the_stage_run_start() -> None:
    state = d.DealState(deal_id="d1")
    for day in (-30, -20):
        apply(state, version(day))  # prospecting since -30
    for day in (-15, -12, -9, -2):
        apply(state, version(day, Stage.QUALIFICATION))  # qualification since -15
    assert d.run_start(state) == to_micros(F.t(-15))
    d.prune(state, to_micros(F.t(-7)))
    assert [v.at for v in state.history] == [to_micros(F.t(-9)), to_micros(F.t(-2))]
    assert state.pruned and d.run_start(state) == to_micros(F.t(-15))
    assert state.facts == {}
    deltas = apply(state, version(-1, Stage.CLOSED_WON))  # the pair after the anchor
    assert items(deltas, d.Close) == [("r1", 1)]


def test_unjudged_pairs_are_yielded_once() -> None:
    state = d.DealState(deal_id="d1")
    for day in (-10, -8, -6):
        d.upsert(state, version(day))
    first = list(d.unjudged(state, to_micros(F.t(-7))))
    assert [(p, v.at) for p, v in first] == [(None, to_micros(F.t(-10))),
                                            (state.history[0], to_micros(F.t(-8)))]
    assert list(d.unjudged(state, to_micros(F.t(-7)))) == []
    assert [v.at for _, v in d.pending_pairs(state)] == [to_micros(F.t(-6))]


def test_stall_clock_restarts_on_a_note_and_stalls_after_the_threshold() -> None:
    state = d.DealState(deal_id="d1")
    apply(state, version(-20, Stage.PROPOSAL), now=to_micros(F.t(-20)))  # 14 days allowed
    assert state.stall_due == to_micros(F.t(-6)) + 1
    assert not state.open.item.stalled  # type: ignore[union-attr]
    assert items(d.refresh(state, to_micros(F.t(-6)), RULE), d.OpenDeal) == []
    stalled = d.refresh(state, to_micros(F.t(-6)) + 1, RULE)
    assert [x.item.stalled for x in stalled] == [True]
    assert d.note(state, to_micros(F.t(-3)))
    assert not d.note(state, to_micros(F.t(-4)))  # older note: no change
    back = d.refresh(state, to_micros(F.t(-2)), RULE)
    assert [x.item.stalled for x in back] == [False]
    assert state.stall_start == to_micros(F.t(-3))


class TestStallRule:
    def test_calendar_days_and_snooze(self) -> None:
        start = to_micros(F.t(-20))
        due = RULE.due("proposal", start, None)
        assert due == start + 14 * DAY_US + 1
        assert RULE.moment("proposal", start, None) == start + 14 * DAY_US
        snooze = day_of_date(F.t(0).date())
        assert RULE.due("proposal", start, snooze) == (snooze + 1) * DAY_US
        assert RULE.due("closed_won", start, None) is None

    def test_business_days(self) -> None:
        rule = StallRule(StageRules(stall_days={"proposal": 2}, required_fields={},
                                    business_days=True))
        friday = to_micros(dt.datetime(2026, 3, 13, 15, tzinfo=dt.UTC))
        # Mon 16 and Tue 17 are 2 business days after Friday; stalled on Wed 18
        assert rule.due("proposal", friday, None) == day_of_date(dt.date(2026, 3, 18)) * DAY_US
        assert rule.moment("proposal", friday, None) == rule.due("proposal", friday, None)


def test_states_and_deltas_serialise() -> None:
    state = d.DealState(deal_id="d1")
    deltas = apply(state, version(-5)) + apply(state, version(-4, Stage.CLOSED_WON))
    encoded = msgspec.msgpack.encode(deltas)
    assert msgspec.msgpack.decode(encoded, type=list[d.DealDelta]) == deltas
    again = msgspec.json.decode(msgspec.json.encode(state), type=d.DealState)
    assert again.history == state.history and again.facts == state.facts
