"""KPI values, bands and team rollups (streams/kpis.py, through the engine), including
the worked band-edge examples."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sys
from unittest import mock

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import DealKind, Stage
from schemas.outputs import KpiValue, Status
from streams import buckets as b
from streams import kpis
from streams.engine import Engine
from streams.kpis import (
    SUMMED,
    AccountMark,
    account_entries,
    account_key,
    count_open,
    judge,
    note,
    pack_figures,
    packed_days,
    status_of,
    team_figures,
    touch,
    unpack_figures,
)
from streams.policy_model import Band, Direction, default_policy
from streams.stages import RepFigures, RepState
from tests.strategies import EventFactory

POLICY = default_policy()
H, L = Direction.HIGHER_IS_BETTER, Direction.LOWER_IS_BETTER


def run(events, policy=POLICY) -> Engine:
    engine = Engine(policy)
    for event in sorted(events, key=lambda e: e.occurred_at):
        assert engine.apply(event).outcome == "accepted", event
    return engine


def kpi(engine: Engine, name: str, rep: str = "r1") -> KpiValue:
    return engine.rep_kpis(rep)[name]


# ------------------------------------------------------------------------- band edges


@pytest.mark.parametrize(("alone_within", "status"), [
    (499, Status.BREACH), (500, Status.WARNING), (799, Status.WARNING), (800, Status.OK)])
def test_autonomy_band_edges(alone_within: int, status: Status) -> None:
    f = EventFactory()
    events = [f.discount(f.t(-1, seconds=-i), "r1", 5.0 if i < alone_within else 15.0)
              for i in range(1000)]
    value = kpi(run(events), "autonomy_level")
    assert (value.numerator, value.denominator) == (alone_within, 1000)
    assert value.value == alone_within / 1000 and value.status == status


@pytest.mark.parametrize(("noted", "status"), [(949, Status.WARNING), (950, Status.OK)])
def test_hygiene_band_edges(noted: int, status: Status) -> None:
    f = EventFactory()
    events = [f.note(f.t(-1, seconds=-i), "r1",
                     "Agreed next steps with the buyer." if i < noted else "n/a",
                     account=f"a{i}") for i in range(1000)]
    value = kpi(run(events), "crm_hygiene")
    assert (value.numerator, value.denominator, value.status) == (noted, 1000, status)


def quarter_quotas(f: EventFactory, per_day: float) -> list:
    """Quotas of 2026-Q1 (90 days) and Q2 (91 days) worth ``per_day`` a day."""
    return [f.quota(f.t(-1), "r1", "2026-Q1", per_day * 90),
            f.quota(f.t(-1), "r1", "2026-Q2", per_day * 91)]


@pytest.mark.parametrize(("pipeline", "status"), [
    (26_910.0, Status.WARNING), (27_000.0, Status.OK), (17_910.0, Status.BREACH),
    (18_000.0, Status.WARNING)])
def test_coverage_band_edges(pipeline: float, status: Status) -> None:
    f = EventFactory()  # T = 2026-03-10: the 90 days reach into Q2
    events = [*quarter_quotas(f, 100.0),
              f.deal(f.t(-1), "d1", amount=pipeline, ecd=dt.date(2026, 6, 7)),
              f.deal(f.t(-1), "beyond", amount=1e9, ecd=dt.date(2026, 6, 8)),
              f.deal(f.t(-1), "past", amount=1e9, ecd=dt.date(2026, 3, 9)),
              f.deal(f.t(0), "undated", amount=1e9)]
    value = kpi(run(events), "pipeline_coverage")
    assert (value.numerator, value.denominator) == (pipeline, 9000.0)
    assert value.value == pipeline / 9000 and value.status == status


@pytest.mark.parametrize(("won", "status"), [(99_900.0, Status.WARNING), (100_000.0, Status.OK)])
def test_attainment_band_edges(won: float, status: Status) -> None:
    f = EventFactory()
    events = [f.quota(f.t(-60), "r1", "2026-Q1", 100_000.0),
              f.deal(f.t(-9), "d1", amount=won),
              f.deal(f.t(-8), "d1", amount=won, stage=Stage.CLOSED_WON),
              f.note(f.t(-8, seconds=-1), "r1", "Signed the order form with procurement.")]
    value = kpi(run(events), "revenue_attainment")
    assert (value.numerator, value.denominator, value.status) == (won, 100_000.0, status)


@pytest.mark.parametrize(("stalled_high_value", "clusters", "status"), [
    (3, 1, Status.BREACH), (2, 0, Status.OK)])
def test_stalled_high_value_cluster(stalled_high_value: int, clusters: int,
                                    status: Status) -> None:
    f = EventFactory()
    events = [f.rep(f.t(-40), rep, team="amer") for rep in ("r1", "r2")]
    events += [f.deal(f.t(-20), f"big{i}", rep=f"r{1 + i % 2}", stage=Stage.PROPOSAL,
                      amount=100_000.0, ecd=dt.date(2026, 9, 1))
               for i in range(stalled_high_value)]
    events += [f.deal(f.t(-20), "small", stage=Stage.PROPOSAL, amount=99_999.99,
                      ecd=dt.date(2026, 9, 1)),
               f.deal(f.t(-20), "other-stage", stage=Stage.NEGOTIATION, amount=500_000.0,
                      ecd=dt.date(2026, 9, 1)),
               f.lead(f.t(0), "r1")]
    engine = run(events)
    team = engine.team_kpis("amer")
    assert team["stalled_high_value_clusters"].value == clusters
    assert team["stalled_high_value_clusters"].status == status
    assert team["stalled_deals"].value == stalled_high_value + 2


def test_the_high_value_bar_is_read_from_the_policy_at_read_time() -> None:
    f = EventFactory()
    events = [f.deal(f.t(-20), f"d{i}", stage=Stage.PROPOSAL, amount=amount,
                     ecd=dt.date(2026, 9, 1))
              for i, amount in enumerate((50_000.0, 100_000.0, 100_000.0, 250_000.0))]
    engine = run([*events, f.lead(f.t(0), "r1")])  # T moves on: the deals are stalled
    state = engine.rep_state["r1"]
    figures = engine.rep_stage.figures
    assert figures(state, engine._clock()).stalled_high_value == {"proposal": 3}
    engine.rep_stage.policy = dataclasses.replace(POLICY, high_value_amount=200_000.0)
    assert figures(state, engine._clock()).stalled_high_value == {"proposal": 1}
    engine.rep_stage.policy = dataclasses.replace(POLICY, high_value_amount=300_000.0)
    assert figures(state, engine._clock()).stalled_high_value == {}


def _entries(state: RepState) -> dict[bytes, tuple[int, int, int]]:
    """The rep's account entries: digest -> (last active day, open deals, last note day)."""
    return {key: (active, count, noted) for key, active, count, noted in account_entries(state)}


def _entry(state: RepState, account_id: str) -> tuple[int, int, int]:
    return _entries(state)[account_key(account_id)]


def test_a_rep_keeps_open_deals_as_sums_not_one_entry_per_deal() -> None:
    f = EventFactory()
    events = [f.deal(f.t(-1, seconds=-i), f"d{i}", account=f"a{i % 3}", amount=0.1 * i,
                     ecd=dt.date(2026, 4, 1 + i % 2)) for i in range(2000)]
    engine = run(events)
    state = engine.rep_state["r1"]
    assert len(_entries(state)) == 3
    assert [_entry(state, a)[1] for a in ("a0", "a1", "a2")] == [667, 667, 666]
    assert len(state.pipeline) == 2 and all(len(p) <= 3 for p in state.pipeline.values())
    assert len(msgspec.msgpack.encode(state)) < 1_000
    value = kpi(engine, "pipeline_coverage")
    assert value.numerator == math.fsum(0.1 * i for i in range(2000))
    assert kpi(engine, "crm_hygiene").denominator == 3
    # Every deal moves to the other rep: what each left behind is subtracted exactly.
    engine = run([*events, *(f.deal(f.t(0, seconds=-i), f"d{i}", rep="r2", account=f"a{i % 3}",
                                    amount=0.1 * i, ecd=dt.date(2026, 4, 1 + i % 2))
                             for i in range(2000))])
    left = engine.rep_state["r1"]
    assert [count for _, count, _ in _entries(left).values()] == [0, 0, 0]
    assert (left.pipeline, left.stalled, left.stalled_value) == ({}, {}, [])
    assert kpi(engine, "pipeline_coverage", "r2").numerator == value.numerator


# ---------------------------------------------------------------------------- judging


@pytest.mark.parametrize(("value", "band", "status"), [
    (0.5, Band(0.8, 0.5, H), Status.WARNING),
    (0.4999, Band(0.8, 0.5, H), Status.BREACH),
    (0.1, Band(0.8, None, H), Status.WARNING),
    (-0.15, Band(-0.15, 0.0, L), Status.OK),
    (0.0, Band(-0.15, 0.0, L), Status.WARNING),
    (0.01, Band(-0.15, 0.0, L), Status.BREACH),
    (123.0, Band(None, None, L), Status.OK),
])
def test_status_of(value: float, band: Band, status: Status) -> None:
    assert status_of(value, band) == status


def test_judge_insufficient_data() -> None:
    band = Band(0.8, 0.5, H, 5)
    assert judge(4, 4, band) == KpiValue(value=None, numerator=4.0, denominator=4.0,
                                         target=0.8, status=Status.INSUFFICIENT_DATA)
    assert judge(0, 0, Band(3.0, 2.0, H, 0)).status == Status.INSUFFICIENT_DATA
    assert judge(2, None, Band(0, None, L, 0)) == KpiValue(
        value=2.0, numerator=2.0, denominator=None, target=0, status=Status.WARNING)


# ------------------------------------------------------------------- every other KPI


def test_feedback_leads_and_escalation_kpis() -> None:
    f = EventFactory()
    events = [f.rep(f.t(-40), "r1", tier="senior"),
              *[f.lead(f.t(-i), "r1", icp_fit=i % 4 != 0) for i in range(1, 21)],
              f.lead(f.t(-31), "r1"),  # outside the 30 days
              f.request(f.t(-2), "r1", 25.0), f.discount(f.t(-2), "r1", 10.0),
              f.discount(f.t(-2), "r1", 30.0, approval_id="ap1"),
              *[f.survey(f.t(-i), "r1", s) for i, s in enumerate((80.0, 90.0, 95.0), 1)],
              f.survey(f.t(-3), "r1", 10.0, kind="rep_autonomy"),
              f.coaching(f.t(-5), "r1", False), f.coaching(f.t(-4), "r1", True)]
    engine = run(events)
    assert kpi(engine, "qualified_leads").numerator == 15
    assert kpi(engine, "qualified_leads").status == Status.OK
    assert (kpi(engine, "escalation_rate").numerator, kpi(engine, "escalation_rate").denominator
            ) == (1, 2)
    utilisation = kpi(engine, "authority_utilisation")  # (10/20 + 30/20) / 2
    assert (utilisation.numerator, utilisation.denominator, utilisation.value) == (2.0, 2, 1.0)
    alignment = kpi(engine, "customer_alignment")
    assert alignment.denominator == 3 and alignment.value == pytest.approx(265 / 300)
    assert alignment.status == Status.OK
    assert kpi(engine, "coaching_adoption").value == 1.0


def won_deal(f: EventFactory, deal: str, close_days: float, amount: float, *,
             cycle: float = 10.0, kind=DealKind.NEW_BUSINESS, won: bool = True) -> list:
    stage = Stage.CLOSED_WON if won else Stage.CLOSED_LOST
    created = f.t(close_days - cycle)
    return [f.deal(f.t(close_days - 1), deal, amount=amount, kind=kind, created_at=created),
            f.deal(f.t(close_days), deal, amount=amount, kind=kind, created_at=created,
                   stage=stage)]


def test_revenue_cycle_and_win_rate_kpis() -> None:
    f = EventFactory()  # the last event sets T = t(-3) = 2026-03-07: Q1, last Q4
    events = []
    for i in range(3):  # in the 90 days a year before T: cycle 20 days
        events += won_deal(f, f"old{i}", -368 - i * 40, 1.0, cycle=20.0)
    events += won_deal(f, "older", -3 - 365 - 90, 1.0, cycle=99.0)  # just before them
    events += won_deal(f, "q4", -80, 1000.0)  # 2025-12-20
    events += won_deal(f, "q1a", -20, 800.0, cycle=10.0)
    events += won_deal(f, "q1b", -10, 200.0, cycle=14.0, kind=DealKind.EXPANSION)
    events += won_deal(f, "q1c", -5, 10.0, cycle=12.0)
    events += won_deal(f, "lost", -3, 999.0, won=False)
    engine = Engine(POLICY)
    for event in sorted(events, key=lambda e: e.occurred_at):
        assert engine.apply(event).outcome == "accepted"
    assert kpi(engine, "expansion_share").value == pytest.approx(200 / 1010)
    growth = kpi(engine, "revenue_growth")
    assert (growth.numerator, growth.denominator) == (1010.0, 1000.0)
    assert growth.value == pytest.approx(0.01) and growth.status == Status.WARNING
    cycle = kpi(engine, "sales_cycle_days")  # wins in 90 d: q4 (10), q1a, q1b, q1c
    assert (cycle.numerator, cycle.denominator) == (46.0, 4)
    yoy = kpi(engine, "sales_cycle_yoy_change")
    assert (yoy.numerator, yoy.denominator) == (11.5, 20.0)
    assert yoy.value == pytest.approx(-0.425) and yoy.status == Status.OK
    win_rate = kpi(engine, "win_rate")
    assert (win_rate.numerator, win_rate.denominator) == (4, 5)
    assert kpi(engine, "revenue_attainment").status == Status.INSUFFICIENT_DATA  # no quota


def test_close_date_pushes_count_per_slipped_deal() -> None:
    f = EventFactory()
    events = [f.deal(f.t(-40), "d1", ecd=dt.date(2026, 4, 1)),
              f.deal(f.t(-20), "d1", ecd=dt.date(2026, 4, 10)),
              f.deal(f.t(-10), "d1", ecd=dt.date(2026, 4, 20)),
              f.deal(f.t(-9), "d2", ecd=dt.date(2026, 4, 1)),
              f.deal(f.t(-8), "d2", ecd=dt.date(2026, 5, 1)),
              f.deal(f.t(-7), "d2", ecd=dt.date(2026, 4, 1))]  # pulled in: no push
    value = kpi(run(events), "close_date_pushes")
    assert (value.numerator, value.denominator, value.value) == (3, 2, 1.5)


def test_team_figures_are_summed_over_its_current_reps() -> None:
    f = EventFactory()
    events = [f.rep(f.t(-40), "r1", team="amer"), f.rep(f.t(-40), "r2", team="amer"),
              f.rep(f.t(-40), "r3", team="emea")]
    events += [f.discount(f.t(-1, seconds=i), "r1", 5.0) for i in range(4)]
    events += [f.discount(f.t(-1, seconds=10 + i), "r2", 15.0) for i in range(4)]
    events += [f.lead(f.t(-1), "r1"), f.lead(f.t(-1), "r3")]
    engine = run(events)
    team = engine.team_kpis("amer")
    assert (team["autonomy_level"].numerator, team["autonomy_level"].denominator) == (4, 8)
    assert team["autonomy_level"].status == Status.WARNING  # 0.5; each rep alone: too few
    assert kpi(engine, "autonomy_level").status == Status.INSUFFICIENT_DATA
    assert (team["qualified_leads"].numerator, team["qualified_leads"].denominator) == (1, 2)
    assert team["critical_violations_7d"].numerator == 4  # r2's grants over authority
    engine.apply(f.rep(f.t(0), "r3", team="amer"))  # r3 moves: team figures follow
    assert engine.team_kpis("amer")["qualified_leads"].denominator == 3
    assert engine.team_kpis("emea") == {}
    assert engine.teams() == ["amer"]


def test_figures_unpack_to_what_was_packed_and_old_dicts_are_packed_when_decoded() -> None:
    f = EventFactory()
    engine = run([f.discount(f.t(-1), "r1", 5.0), f.lead(f.t(-1), "r1"),
                  f.deal(f.t(-2), "d1", amount=1234.5)])
    state = engine.rep_state["r1"]
    raw = engine.rep_stage._raw(state, engine._clock())
    figures = engine.rep_stage.figures(state, engine._clock())
    expected = {name: (float(num), None if den is None else float(den))
                for name, (num, den) in raw.items() if name in SUMMED}
    assert figures.raw == expected and figures.raw["stalled_deals"][1] is None
    old = msgspec.msgpack.encode([expected, {"proposal": 2}])  # sent before packing
    decoded = msgspec.msgpack.decode(old, type=RepFigures)
    assert decoded == figures.__class__(figures.packed, {"proposal": 2})
    assert unpack_figures(figures.packed[:-32]) == expected | {  # an older, shorter list
        SUMMED[-2]: (0.0, None), SUMMED[-1]: (0.0, None)}


def test_team_figures_sum_what_members_have() -> None:
    one = pack_figures({"autonomy_level": (3, 4), "stalled_deals": (2, None)})
    two = pack_figures({"autonomy_level": (1, 2), "stalled_deals": (5, None)})
    team = team_figures([one, two[:16]])  # the second packed when autonomy came first
    assert team["autonomy_level"] == (4.0, 6.0) and team["stalled_deals"] == (2.0, None)
    assert team_figures([one, two])["stalled_deals"] == (7.0, None)
    assert team_figures([one, two])["qualified_leads"] == (0.0, 2)


def test_team_overrides_of_targets() -> None:
    f = EventFactory()
    policy = default_policy()
    policy.team_bands["amer"] = {"qualified_leads": Band(1, 0, H, 1)}
    engine = run([f.rep(f.t(-1), "r1", team="amer"), f.rep(f.t(-1), "r2", team="emea"),
                  f.lead(f.t(0), "r1"), f.lead(f.t(0), "r2")], policy)
    assert engine.rep_kpis("r1")["qualified_leads"].status == Status.OK
    assert engine.rep_kpis("r2")["qualified_leads"].status == Status.BREACH
    assert engine.team_kpis("amer")["qualified_leads"].target == 1


def test_quota_span_and_quarters() -> None:
    assert b.quarter_of(b.quarter_span(2026, 1)[1]) == (2026, 1)
    first, last = b.quarter_span(2024, 1)
    assert last - first + 1 == 91  # leap year
    shares = list(b.daily_shares({"2026-Q1": 90.0}, *b.quarter_span(2026, 1)))
    assert shares == [1.0] * 90
    assert b.business_days_between(0, 7) == 5


@given(st.integers(19_000, 21_000), st.integers(0, 400),
       st.dictionaries(st.sampled_from(["2022-Q4", "2023-Q1", "2023-Q2", "2023-Q3", "2023-Q4"]),
                       st.floats(0, 1e7)))
def test_daily_shares_and_counts_are_their_per_day_definitions(first: int, days: int,
                                                                quotas: dict[str, float]) -> None:
    last = first + days - 1
    per_day = [quotas.get(b.period_name(*b.quarter_of(d)), 0.0)
               / (b.quarter_span(*b.quarter_of(d))[1] - b.quarter_span(*b.quarter_of(d))[0] + 1)
               for d in range(first, last + 1)]
    assert b.daily_shares(quotas, first, last) == per_day
    counters: b.Counters = {}
    for d in range(first - 3, last + 4, 2):
        b.bump(counters, d, d % 3, 3)
    assert b.count(counters, first, last, 1, 3) == sum(
        counters.get(d * 3 + 1, 0) for d in range(first, last + 1))


def test_a_rep_state_stored_with_open_deals_one_by_one_is_summed_when_decoded() -> None:
    f = EventFactory()
    events = [f.deal(f.t(-1, seconds=-i), f"d{i}", account=f"a{i % 2}", amount=1000.0 + i,
                     ecd=dt.date(2026, 4, 1)) for i in range(5)]
    engine = run(events)
    summed = engine.rep_state["r1"]
    old_format = msgspec.msgpack.encode({  # what 0.1.0 stored: no sums, the deals
        "counts": summed.counts,
        "activity": {a: _entry(summed, a)[0] for a in ("a0", "a1")},
        "open_deals": {s.deal_id: s.deal.open.item  # type: ignore[union-attr]
                       for s in engine.decision_state.values()}})
    decoded = msgspec.msgpack.decode(old_format, type=type(summed))
    assert (_entries(decoded), decoded.pipeline, decoded.open_deals, decoded.activity) == (
        _entries(summed), summed.pipeline, None, None)


def _two_accounts_one_noted() -> tuple[Engine, int]:
    """A rep active on two accounts (two open deals on a1), and the day of T."""
    f = EventFactory()
    events = [f.deal(f.t(-3), "d1", account="a1"), f.deal(f.t(-2), "d2", account="a1"),
              f.survey(f.t(-1), "r1", 80, account="a2"),
              f.note(f.t(-1), "r1", "Walked the CFO through the rollout plan.", account="a1")]
    engine = run(events)
    return engine, engine._clock().now // 86_400_000_000


def _hygiene(engine: Engine, state: RepState) -> tuple[float, float | None]:
    value = engine.rep_stage.kpis(state, "amer", engine._clock())["crm_hygiene"]
    return value.numerator, value.denominator


def test_a_rep_state_stored_with_a_table_per_account_fact_is_merged_when_decoded() -> None:
    engine, today = _two_accounts_one_noted()
    summed = engine.rep_state["r1"]
    old_format = msgspec.msgpack.encode({  # before one entry per account
        "counts": summed.counts,
        "activity": {a: _entry(summed, a)[0] for a in ("a1", "a2")},
        "open_accounts": {"a1": _entry(summed, "a1")[1]},
        "note_days": {"a1": today - 1}})
    decoded = msgspec.msgpack.decode(old_format, type=type(summed))
    assert _entries(decoded) == {account_key("a1"): (today, 2, today - 1),
                                 account_key("a2"): (today, 0, 0)}
    assert (decoded.activity, decoded.open_accounts, decoded.note_days) == (None, None, None)
    assert _hygiene(engine, decoded) == (1, 2)


@pytest.mark.parametrize("stored", ["structs", "packed ints"])
def test_a_rep_state_stored_with_account_entries_by_id_is_packed_when_decoded(
    stored: str,
) -> None:
    engine, today = _two_accounts_one_noted()
    packed = engine.rep_state["r1"]
    old_format = msgspec.msgpack.encode({  # entries as structs, then as ints, by account id
        "counts": packed.counts,
        "accounts": {"a1": AccountMark(today, 2, today - 1), "a2": AccountMark(today, 0, 0)},
    } if stored == "structs" else {
        "counts": packed.counts,
        "marks": {"a1": today | (today - 1) << 24 | 2 << 48, "a2": today}})
    decoded = msgspec.msgpack.decode(old_format, type=type(packed))
    assert _entries(decoded) == {account_key("a1"): (today, 2, today - 1),
                                 account_key("a2"): (today, 0, 0)}
    assert (decoded.accounts, decoded.marks) == (None, None)
    assert _hygiene(engine, decoded) == (1, 2)


@pytest.mark.parametrize(("active", "count", "noted"), [
    (0, 0, 0), (20_425, 1, 20_424), (20_425, -1, 0), ((1 << 24) - 1, 3, (1 << 24) - 1),
    (7, -(1 << 20), 9), (7, (1 << 31) - 1, 9), (7, -(1 << 31), 9)])
def test_an_account_entry_reads_back_what_was_applied_after_a_round_trip(
    active: int, count: int, noted: int,
) -> None:
    state = RepState()
    count_open(state, "a", count)
    touch(state, "a", active)
    note(state, "a", noted)
    again = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=RepState)
    assert list(account_entries(again)) == [(account_key("a"), active, count, noted)]


def test_digest_bytes_straddling_two_entries_are_not_taken_for_an_entry() -> None:
    key = account_key("x")
    state = RepState(account_keys=bytearray(b"\x01" * 4 + key + b"\x02" * 4),
                     account_days=bytearray(16), account_open=bytearray(8))
    touch(state, "x", 5)
    assert _entries(state) == {b"\x01" * 4 + key[:4]: (0, 0, 0), key[4:] + b"\x02" * 4: (0, 0, 0),
                               key: (5, 0, 0)}
    touch(state, "x", 6)  # now found where it is aligned
    assert _entry(state, "x") == (6, 0, 0) and len(_entries(state)) == 3
    assert packed_days(6, 2) >> 24 == 2


ACCOUNT_OPS = st.lists(st.tuples(st.sampled_from(["touch", "note", "open"]),
                                  st.integers(0, 40), st.integers(-3, 20_000)), max_size=200)


@pytest.mark.parametrize("scan_entries", [0, 3, kpis.SCAN_BYTES // kpis.KEY])
@given(ops=ACCOUNT_OPS)
def test_account_entries_agree_with_a_dict_and_stay_in_digest_order(scan_entries, ops) -> None:
    # Scans of 0 and 3 entries: every lookup, or those past three accounts, bisect.
    expected: dict[bytes, list[int]] = {}
    with mock.patch.object(kpis, "SCAN_BYTES", scan_entries * kpis.KEY):
        state = RepState()
        for op, n, value in ops:
            account, day, key = f"acct-{n}", abs(value), account_key(f"acct-{n}")
            if op == "open" or day > 0:  # a touch or note on day 0 adds no entry
                expected.setdefault(key, [0, 0, 0])
            if op == "touch":
                touch(state, account, day)
                if day:
                    expected[key][0] = max(expected[key][0], day)
            elif op == "note":
                note(state, account, day)
                if day:
                    expected[key][2] = max(expected[key][2], day)
            else:
                count_open(state, account, value)
                expected[key][1] += value
    assert _entries(state) == {key: tuple(e) for key, e in expected.items()}
    digests = [int.from_bytes(key, sys.byteorder) for key in _entries(state)]
    assert digests == sorted(digests)


@pytest.mark.parametrize("stored_order", ["arrival", "the other byte order"])
def test_account_entries_in_another_order_are_sorted_when_decoded(stored_order) -> None:
    state = RepState()
    for n in range(300):
        count_open(state, f"acct-{n}", n)
    entries = list(account_entries(state))
    if stored_order == "arrival":  # stored before entries were kept in order
        marker, entries = {}, entries[::-1]
    else:  # sorted on a host whose byte order is not this one's
        other = "big" if sys.byteorder == "little" else "little"
        marker = {"accounts_order": other}
        entries.sort(key=lambda entry: int.from_bytes(entry[0], other))
    unsorted = msgspec.msgpack.encode({
        "account_keys": b"".join(key for key, *_ in entries),
        "account_days": b"".join(kpis._DAYS.pack(0) for _ in entries),
        "account_open": b"".join(kpis._OPEN.pack(c) for *_, c, _ in entries), **marker,
    })
    decoded = msgspec.msgpack.decode(unsorted, type=RepState)
    assert decoded.accounts_order == sys.byteorder and list(account_entries(decoded)) == list(
        account_entries(state))
    with mock.patch.object(kpis, "SCAN_BYTES", 0):  # found by bisection
        count_open(decoded, "acct-299", 1)
    assert _entry(decoded, "acct-299") == (0, 300, 0) and len(_entries(decoded)) == 300


def test_pruning_keeps_the_recent_account_entries_in_digest_order() -> None:
    today = 20_440  # today % 56 < 14: a day the accounts are pruned
    state = RepState()
    for n in range(60):  # every third account active in the last 90 days
        touch(state, f"acct-{n}", today - (10 if n % 3 == 0 else 200))
    kpis.prune_rep(state, today)
    assert set(_entries(state)) == {account_key(f"acct-{n}") for n in range(0, 60, 3)}
    digests = [int.from_bytes(key, sys.byteorder) for key in _entries(state)]
    assert digests == sorted(digests)
    with mock.patch.object(kpis, "SCAN_BYTES", 0):  # found by bisection
        count_open(state, "acct-30", 2)
    assert _entry(state, "acct-30") == (today - 10, 2, 0) and len(_entries(state)) == 20


AMOUNTS = st.lists(st.floats(min_value=0, max_value=1e12, allow_subnormal=True), max_size=40)


@given(amounts=AMOUNTS, data=st.data())
def test_an_exact_sum_gives_fsum_of_what_is_left_whatever_the_order(amounts, data) -> None:
    removed = data.draw(st.lists(st.sampled_from(range(len(amounts))), unique=True)
                        if amounts else st.just([]))
    steps = [(x, 1) for x in amounts] + [(amounts[i], -1) for i in removed]
    order = data.draw(st.permutations(range(len(steps))))
    # A removal never comes before its addition (the deal stage sends them in order).
    order = sorted(order, key=lambda i: steps[i][1])
    partials: b.Partials = []
    for i in order:
        x, sign = steps[i]
        b.add_exact(partials, sign * x)
    left = [x for i, x in enumerate(amounts) if i not in set(removed)]
    assert math.fsum(partials) == math.fsum(left)
    if not left or not any(left):
        assert partials == []
