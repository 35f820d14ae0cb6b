"""The engine facade (streams/engine.py): outcomes, stream time, roster, owner changes,
late and duplicate events, reads."""

from __future__ import annotations

import datetime as dt

import msgspec

from schemas.events import Event, Stage
from schemas.outputs import Status
from streams.engine import UNASSIGNED, Engine
from streams.policy_model import default_policy
from tests.samples import encode_json, valid_event
from tests.strategies import EventFactory

POLICY = default_policy()
ECD = dt.date(2026, 4, 1)


def coverage_numerators(engine: Engine) -> dict[str, float]:
    return {rep: engine.rep_kpis(rep)["pipeline_coverage"].numerator for rep in engine.reps()}


def test_nothing_before_the_first_event() -> None:
    engine = Engine(POLICY)
    assert engine.stream_time is None
    assert engine.reps() == [] and engine.teams() == []
    assert engine.rep_kpis("r1") == {} and engine.team_kpis("amer") == {}
    assert engine.pending_violations() == []
    assert engine.stale_deals() == set() and engine.stalled_deals() == set()


def test_outcomes_and_stream_time() -> None:
    f = EventFactory()
    engine = Engine(POLICY)
    first = f.lead(f.t(0), "r1")
    assert engine.apply(first).outcome == "accepted"
    assert engine.apply(first).outcome == "duplicate"
    assert engine.apply(f.lead(f.t(-7), "r1")).outcome == "accepted"  # exactly at W
    assert engine.apply(f.lead(f.t(-7, micro=-1), "r1")).outcome == "late"
    assert engine.apply(f.lead(f.t(3), "r1")).outcome == "accepted"
    assert engine.stream_time == f.t(3)
    assert engine.apply(first).outcome == "duplicate"  # still remembered
    assert engine.rep_kpis("r1")["qualified_leads"].numerator == 3


def test_an_old_repeat_is_late_not_duplicate() -> None:
    f = EventFactory()
    engine = Engine(POLICY)
    old = f.lead(f.t(-8), "r1")
    engine.apply(old)
    engine.apply(f.lead(f.t(60), "r1"))
    assert engine.apply(old).outcome == "late"
    assert len(engine.seen) < 10  # ids older than the watermark are forgotten


def test_decoded_sample_events_are_applied() -> None:
    decoder = msgspec.json.Decoder(Event)
    engine = Engine(POLICY)
    for n, type_name in enumerate(("rep.updated", "deal.updated", "note.logged",
                                   "discount.granted", "survey.submitted")):
        event = decoder.decode(encode_json(valid_event(type_name, event_id=f"s{n}")))
        assert engine.apply(event).outcome == "accepted"
    assert engine.reps() == ["rep-a1"] and engine.teams() == ["team-a"]
    assert engine.rep_kpis("rep-a1")["crm_hygiene"].numerator == 1


def test_reps_without_a_roster_entry_are_unassigned_and_junior() -> None:
    f = EventFactory()
    engine = Engine(POLICY)
    applied = engine.apply(f.discount(f.t(0), "ghost", 15.0))
    assert [v.team for v in applied.violations] == [UNASSIGNED]
    assert engine.teams() == [UNASSIGNED] and engine.team_of("ghost") == UNASSIGNED


def test_the_latest_roster_entry_wins_whatever_the_arrival_order() -> None:
    f = EventFactory()
    engine = Engine(POLICY)
    engine.apply(f.rep(f.t(0), "r1", team="emea"))
    engine.apply(f.rep(f.t(-1), "r1", team="amer"))  # older, arrives later
    assert engine.teams() == ["emea"]


def test_owner_change_moves_exactly_the_deals_value() -> None:
    f = EventFactory()
    engine = Engine(POLICY)
    for rep in ("alice", "bob", "carol"):
        engine.apply(f.quota(f.t(-2), rep, "2026-Q1", 90_000.0))
        engine.apply(f.deal(f.t(-2), f"own-{rep}", rep=rep, amount=1_000.0, ecd=ECD))
    engine.apply(f.deal(f.t(-1), "moving", rep="alice", amount=123_456.78, ecd=ECD))
    before = coverage_numerators(engine)
    engine.apply(f.deal(f.t(0), "moving", rep="bob", amount=123_456.78, ecd=ECD))
    after = coverage_numerators(engine)
    assert before["alice"] - after["alice"] == 123_456.78
    assert after["bob"] - before["bob"] == 123_456.78
    assert after["carol"] == before["carol"]
    engine.apply(f.deal(f.t(-0.5), "moving", rep="carol", amount=5.0, ecd=ECD))  # older
    assert coverage_numerators(engine) == after
    engine.apply(f.deal(f.t(0, seconds=1), "moving", rep="bob", stage=Stage.CLOSED_LOST,
                        amount=123_456.78, ecd=ECD))
    assert coverage_numerators(engine)["bob"] == 1_000.0


def test_windows_move_with_stream_time() -> None:
    f = EventFactory()
    engine = Engine(POLICY)
    for day in range(-14, 1):
        engine.apply(f.lead(f.t(day), "r1"))
    assert engine.rep_kpis("r1")["qualified_leads"].status == Status.OK
    engine.advance_to(f.t(20))  # the 30 days now hold 10 of them (days -9 ... 0)
    leads = engine.rep_kpis("r1")["qualified_leads"]
    assert leads.numerator == 10 and leads.status == Status.WARNING
    engine.advance_to(f.t(19))  # never back
    assert engine.stream_time == f.t(20)


def test_late_notes_count_in_their_own_day() -> None:
    f = EventFactory()
    engine = Engine(POLICY)
    engine.apply(f.deal(f.t(0), "d1", account="a1", ecd=ECD))
    assert engine.rep_kpis("r1")["crm_hygiene"].numerator == 0
    engine.apply(f.note(f.t(-6), "r1", "Logged late: demo went well, trial agreed."))
    hygiene = engine.rep_kpis("r1")["crm_hygiene"]
    assert (hygiene.numerator, hygiene.denominator) == (1, 1)
    engine.advance_to(f.t(1))  # the note is now 7 days old: outside
    assert engine.rep_kpis("r1")["crm_hygiene"].numerator == 0


def test_long_idle_streams_prune_state() -> None:
    f = EventFactory()
    engine = Engine(POLICY)
    for day in range(0, 400, 3):
        engine.apply(f.lead(f.t(day), "r1"))
        engine.apply(f.deal(f.t(day), f"d{day}", account=f"a{day}",
                            stage=Stage.CLOSED_WON if day % 2 else Stage.PROSPECTING))
        engine.apply(f.note(f.t(day), "r1", "Qualified the opportunity with the buyer.",
                            account=f"a{day}"))
    rep = engine.rep_state["r1"]
    assert max(rep.counts) - min(rep.counts) < 60 * 8  # about 30 days of counters
    assert len(engine.notes.times) < 40
    assert len(engine.seen) < 20
    assert engine.rep_kpis("r1")["qualified_leads"].numerator == 10
