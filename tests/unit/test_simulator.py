"""The simulator: deterministic scenarios whose personas produce the KPI bands they are
designed for when fed through the engine with the default policy, and a feed that injects
exactly the defects it reports."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
from collections import Counter, defaultdict

import pytest

from schemas.decode import InvalidEvent, decode, encode
from schemas.events import DealUpdated, RepUpdated
from schemas.outputs import Severity, Status, Violation
from simulator.cli import add_simulate_arguments, simulate_main
from simulator.feed import Injected, schedule, stream, to_record
from simulator.personas import PERSONAS, persona
from simulator.scenario import generate, plan_roster, team_name
from streams.engine import Engine
from streams.policy_model import default_policy

POLICY = default_policy()
# Default mix: team A = over_discounter, micromanaged, poor_hygiene, staller; team B empowered.
OVER, MICRO, HYGIENE, STALLER = "rep-a1", "rep-a2", "rep-a3", "rep-a4"
EMPOWERED = ("rep-b1", "rep-b2", "rep-b3", "rep-b4")
CRITICAL_RULES = {"discount_over_authority", "discount_below_floor"}


class Run:
    """A scenario applied to the engine, with the violations fired per rep."""

    def __init__(self, seed: int) -> None:
        self.events = generate(seed)
        self.engine = Engine(POLICY)
        self.violations: dict[str, list[Violation]] = defaultdict(list)
        self.outcomes: Counter[str] = Counter()
        for event in self.events:
            applied = self.engine.apply(event)
            self.outcomes[applied.outcome] += 1
            for violation in applied.violations:
                self.violations[violation.rep_id or ""].append(violation)

    def rules(self, rep: str) -> Counter[str]:
        return Counter(v.rule for v in self.violations[rep])

    def kpi(self, rep: str, name: str):
        return self.engine.rep_kpis(rep)[name]


@pytest.fixture(scope="module", params=[7, 2026], ids=lambda s: f"seed{s}")
def run(request: pytest.FixtureRequest) -> Run:
    return Run(request.param)


# ------------------------------------------------------------------------ generation

def test_same_seed_gives_identical_events() -> None:
    first, second = generate(7, days=30), generate(7, days=30)
    assert [encode(e) for e in first] == [encode(e) for e in second]
    assert [encode(e) for e in generate(8, days=30)] != [encode(e) for e in first]


def test_events_are_ordered_unique_valid_with_the_roster_first() -> None:
    events = generate(3, teams=3, reps_per_team=2, days=40)
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
    assert len({e.event_id for e in events}) == len(events)
    roster = [e for e in events if isinstance(e, RepUpdated)]
    assert len(roster) == 6 and events[:6] == roster
    for event in events:  # every event passes the boundary's own validation
        assert decode(encode(event)) == event


def test_adding_a_team_does_not_change_the_others() -> None:
    small = generate(5, teams=1, days=20)
    big = generate(5, teams=2, days=20)
    team_a = {e.event_id for e in big if getattr(e, "rep_id", "").startswith("rep-a")}
    assert {e.event_id for e in small} <= team_a | {e.event_id for e in big}
    assert {encode(e) for e in small} <= {encode(e) for e in big}


def test_roster_cycles_the_persona_mix_over_teams_and_reps() -> None:
    mix = [("staller", "empowered"), ("micromanaged",)]
    roster = plan_roster(teams=3, reps_per_team=3, mix=mix)
    assert [r.team for r in roster[::3]] == ["team-a", "team-b", "team-c"]
    assert [r.persona.name for r in roster] == [
        "staller", "empowered", "staller", "micromanaged", "micromanaged", "micromanaged",
        "staller", "empowered", "staller"]
    assert roster[0].rep_id == "rep-a1" and roster[0].manager_id == "mgr-team-a"
    assert team_name(26) == "team-aa"
    with pytest.raises(KeyError, match="unknown persona"):
        persona("slacker")


def test_every_persona_is_data_with_a_tier_of_the_policy() -> None:
    assert set(PERSONAS) == {"empowered", "over_discounter", "micromanaged", "poor_hygiene",
                             "staller"}
    assert all(p.tier in POLICY.tiers for p in PERSONAS.values())


def test_every_event_family_is_produced(run: Run) -> None:
    kinds = Counter(type(e).__name__ for e in run.events)
    assert set(kinds) == {
        "RepUpdated", "QuotaSet", "DealUpdated", "DiscountGranted", "NoteLogged",
        "LeadQualified", "ApprovalRequested", "ApprovalDecided", "CoachingLogged",
        "SurveySubmitted"}
    assert run.outcomes == Counter(accepted=len(run.events))


# -------------------------------------------------------------------------- personas

def test_over_discounter_breaks_authority_and_floor(run: Run) -> None:
    rules = run.rules(OVER)
    assert rules["discount_over_authority"] > 0 and rules["discount_below_floor"] > 0
    critical = run.kpi(OVER, "critical_violations_7d")
    assert critical.status == Status.BREACH and critical.value >= 1
    assert run.kpi(OVER, "autonomy_level").status == Status.BREACH


def test_micromanaged_escalates_what_it_may_decide(run: Run) -> None:
    autonomy = run.kpi(MICRO, "autonomy_level")
    assert autonomy.status == Status.BREACH and autonomy.value < 0.5
    assert run.rules(MICRO)["unnecessary_escalation"] > 0
    assert run.kpi(MICRO, "escalation_rate").value > 0.5
    assert not CRITICAL_RULES & set(run.rules(MICRO))


def test_empowered_reps_decide_within_authority_and_keep_the_crm_current(run: Run) -> None:
    for rep in EMPOWERED:
        autonomy = run.kpi(rep, "autonomy_level")
        assert autonomy.status == Status.OK and autonomy.value >= 0.8, rep
        assert run.kpi(rep, "crm_hygiene").status == Status.OK, rep
        assert run.kpi(rep, "stalled_deals").value == 0, rep
        assert run.kpi(rep, "qualified_leads").status == Status.OK, rep
        assert run.kpi(rep, "coaching_adoption").status == Status.OK, rep
        assert all(v.severity != Severity.CRITICAL for v in run.violations[rep]), rep
        assert run.rules(rep)["unnecessary_escalation"] == 0, rep


def test_poor_hygiene_rep_breaches_crm_hygiene(run: Run) -> None:
    hygiene = run.kpi(HYGIENE, "crm_hygiene")
    assert hygiene.status == Status.BREACH and hygiene.value < 0.9
    assert run.rules(HYGIENE)["missing_required_field"] > 0  # no decision maker / next step


def test_staller_has_high_value_deals_stalled_in_proposal(run: Run) -> None:
    stalled = {d for d in run.engine.stalled_deals() if f"-{STALLER}-" in d}
    assert len(stalled) >= 3
    assert run.kpi(STALLER, "stalled_deals").value == len(stalled)
    assert run.kpi(STALLER, "stalled_value").value >= 3 * POLICY.high_value_amount
    assert run.rules(STALLER)["deal_stalled"] >= 3
    latest: dict[str, DealUpdated] = {}
    for event in run.events:
        if isinstance(event, DealUpdated):
            latest[event.deal_id] = event
    assert {latest[d].stage for d in stalled} == {"proposal"}
    assert all(latest[d].amount >= POLICY.high_value_amount for d in stalled)


def test_unhealthy_team_a_differs_from_healthy_team_b(run: Run) -> None:
    a, b = run.engine.team_kpis("team-a"), run.engine.team_kpis("team-b")
    for name in ("autonomy_level", "crm_hygiene", "qualified_leads", "coaching_adoption",
                 "customer_alignment"):
        assert a[name].value < b[name].value, name
        assert b[name].status == Status.OK, name
        assert a[name].status != Status.OK, name
    for name, worse in (("critical_violations_7d", Status.BREACH),
                        ("stalled_high_value_clusters", Status.BREACH),
                        ("stalled_deals", Status.WARNING)):
        assert (a[name].status, b[name].status) == (worse, Status.OK), name
    assert a["escalation_rate"].value > b["escalation_rate"].value


# ------------------------------------------------------------------------------ feed

def test_records_are_keyed_by_record_id() -> None:
    events = generate(1, teams=1, reps_per_team=1, days=10)
    for event in events:
        family, key, value = to_record(event)
        assert decode(value, family) == event
        if family == "crm.reps":
            assert key == event.rep_id.encode()
        if family == "crm.deals":
            assert key == event.deal_id.encode()


def test_injected_defects_are_counted_and_seen_by_the_engine() -> None:
    events = generate(2, teams=1, reps_per_team=2, days=40)
    injected = Injected()
    plan = schedule(events, bad_every=97, duplicate_every=41, late_every=53,
                    injected=injected)
    assert injected.bad > 0 and injected.duplicates > 0 and injected.late > 0
    assert len(plan) == len(events) + injected.bad + injected.duplicates
    engine, outcomes, broken = Engine(POLICY), Counter(), 0
    for _, (family, _, value) in plan:
        try:
            event = decode(value, family)
        except InvalidEvent:
            broken += 1
            continue
        outcomes[engine.apply(event).outcome] += 1
    assert broken == injected.bad
    assert outcomes["duplicate"] == injected.duplicates
    assert outcomes["late"] == injected.late


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_compressed_pace_holds_the_rate() -> None:
    events = generate(4, teams=1, reps_per_team=1, days=5)
    clock = FakeClock()
    sent = list(stream(events, rate=100.0, clock=clock, sleep=clock.sleep))
    assert len(sent) == len(events)
    assert clock.now == pytest.approx(len(events) / 100.0)
    clock = FakeClock()
    list(stream(events, clock=clock, sleep=clock.sleep))
    assert clock.sleeps == []


def test_live_pace_waits_for_each_event_time() -> None:
    events = generate(4, teams=1, reps_per_team=1, days=5)
    clock, seen = FakeClock(), []
    for _ in stream(events, pace="live", speed=3600.0, clock=clock, sleep=clock.sleep):
        seen.append(clock.now)
    first = events[0].occurred_at
    expected = [(e.occurred_at - first).total_seconds() / 3600.0 for e in events]
    assert seen == pytest.approx(expected)
    with pytest.raises(ValueError, match="pace"):
        list(stream(events, pace="warp"))


def test_simulate_cli_writes_json_lines(tmp_path, capsys) -> None:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    out = tmp_path / "scenario.jsonl"
    args = parser.parse_args(["--seed", "3", "--teams", "1", "--reps-per-team", "2",
                              "--days", "10", "--bad-every", "25", "--out", str(out),
                              "--start", "2026-03-02", "--personas", "empowered,staller"])
    assert simulate_main(args) == 0
    lines = out.read_bytes().splitlines()
    good = []
    for line in lines:
        with contextlib.suppress(InvalidEvent):
            good.append(decode(line))
    expected = generate(3, teams=1, reps_per_team=2, days=10, mix=[("empowered", "staller")],
                        start=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    assert good == expected
    assert len(lines) - len(good) == len(expected) // 25
    assert "broken" in capsys.readouterr().err
