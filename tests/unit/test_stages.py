"""The keyed stages (streams/stages.py, docs/topology.md): serialisable state, a
partitioned composition equal to the single-process Engine, duplicates re-returning
their violations, and a revoke-like restart from encoded state."""

from __future__ import annotations

import random
import zlib
from collections import Counter, deque
from typing import Any

import msgspec
import pytest

from schemas import events as ev
from schemas.outputs import Violation
from simulator.scenario import generate
from streams.clock import DAY_US, Deduplicator, StreamTime, span_micros, to_micros
from streams.engine import Engine
from streams.notes import is_qualifying
from streams.policy_model import Policy, default_policy
from streams.stages import (
    SWEEP_DAYS,
    UNASSIGNED,
    AccountStage,
    AccountState,
    Clock,
    DecisionStage,
    DecisionState,
    RepFigures,
    RepMessage,
    RepStage,
    RepState,
    RosterEntry,
    TeamStage,
    TeamState,
    WonClose,
)
from tests.strategies import EventFactory

POLICY = default_policy()
STATE_TYPES = {"account": AccountState, "decision": DecisionState, "rep": RepState}


def scenario(seed: int = 7) -> list[ev.Event]:
    return generate(seed, teams=2, reps_per_team=3, days=60)


class Partitioned:
    """The topology in miniature: an ingest that judges late / duplicate against the
    global clock and routes by key into N FIFO partitions per stage; partitions are
    drained in a seeded random interleaving (each key's items stay in order)."""

    def __init__(self, policy: Policy, n: int = 3, seed: int = 0) -> None:
        self.policy, self.n, self.rnd = policy, n, random.Random(seed)
        self.time = StreamTime(span_micros(policy.lateness_days))
        self.dedup = Deduplicator()
        self.roster: dict[str, RosterEntry] = {}
        self.stores: dict[str, dict[str, Any]] = {name: {} for name in STATE_TYPES}
        self.queues: dict[tuple[str, int], deque[tuple[str, str, Any, Any, Clock]]] = {}
        self.pending: Counter[tuple[str, str]] = Counter()
        self.due: dict[str, int | None] = {}
        self.fired: dict[str, Violation] = {}
        self._stages()

    def _stages(self) -> None:
        self.stages: dict[str, Any] = {
            "account": AccountStage(self.policy, self.roster),
            "decision": DecisionStage(self.policy, self.roster),
            "rep": RepStage(self.policy, self.roster),
        }
        self.team_stage = TeamStage(self.policy)

    def clock(self) -> Clock:
        assert self.time.now is not None
        return Clock(self.time.now, self.time.now - self.time.lateness)

    def send(self, stage: str, key: str, what: str, item: Any, qualifying: Any,
             clock: Clock) -> None:
        partition = zlib.crc32(key.encode()) % self.n
        self.queues.setdefault((stage, partition), deque()).append(
            (key, what, item, qualifying, clock))
        self.pending[stage, key] += 1

    def ingest(self, event: ev.Event) -> None:
        at = to_micros(event.occurred_at)
        if self.time.admit(at) < 0 or not self.dedup.add_new(event.event_id, at):
            return
        clock = self.clock()
        send, kind = self.send, type(event)
        qualifying = (is_qualifying(event.body, self.policy.notes)
                      if isinstance(event, ev.NoteLogged) else None)
        if isinstance(event, ev.RepUpdated):
            known = self.roster.get(event.rep_id)
            if known is None or (at, event.event_id) > (known.at, known.event_id):
                self.roster[event.rep_id] = RosterEntry(at, event.event_id, event.team,
                                                        event.tier, event.manager_id,
                                                        event.active)
        if kind in (ev.DealUpdated, ev.NoteLogged, ev.SurveySubmitted):
            send("account", event.account_id, "apply", event, qualifying, clock)  # type: ignore[union-attr]
        if kind in (ev.DealUpdated, ev.DiscountGranted, ev.ApprovalRequested,
                    ev.ApprovalDecided) or (kind is ev.NoteLogged and event.deal_id):  # type: ignore[union-attr]
            send("decision", event.deal_id, "apply", event, qualifying, clock)  # type: ignore[union-attr]
        if kind not in (ev.DealUpdated, ev.DiscountGranted, ev.ApprovalRequested,
                        ev.ApprovalDecided):
            send("rep", event.rep_id, "apply", event, qualifying, clock)
        # Ticks: keys whose known due time T has reached, and (conservatively) keys
        # with items still queued, whose due time is not known yet.
        waiting = {key for (stage, key), n in self.pending.items() if n and stage == "decision"}
        for key in sorted(waiting.union(self.due)):
            due = self.due.get(key)
            if (due is not None and due <= clock.now) or key in waiting:
                send("decision", key, "tick", None, None, clock)

    def drain(self) -> None:
        while True:
            busy = [q for q in self.queues.values() if q]
            if not busy:
                return
            queue = self.rnd.choice(busy)
            for _ in range(self.rnd.randint(1, 4)):
                if queue:
                    self.step(*self._stage_of(queue), *queue.popleft())

    def _stage_of(self, queue: deque) -> tuple[str]:
        for (stage, _), q in self.queues.items():
            if q is queue:
                return (stage,)
        raise AssertionError

    def step(self, stage: str, key: str, what: str, item: Any, qualifying: Any,
             clock: Clock) -> None:
        self.pending[stage, key] -= 1
        store, runner = self.stores[stage], self.stages[stage]
        state = store.get(key)
        if what == "tick":
            if state is None:
                return
            result = runner.tick(state, clock)
        else:
            result = runner.apply(state, item, clock, qualifying)
        store[key] = result.state
        if stage == "decision":
            self.due[key] = runner.next_due(result.state)
        for violation in result.violations:
            self.fired[violation.violation_id] = violation
        for message in result.to_reps:
            self.send("rep", message.rep_id, "apply", message, None, clock)
        for message in result.to_accounts:
            assert isinstance(message, WonClose)
            self.send("account", message.account_id, "apply", message, None, clock)

    def run(self, events: list[ev.Event], chunk: int = 40) -> None:
        for start in range(0, len(events), chunk):
            for event in events[start:start + chunk]:
                self.ingest(event)
            self.drain()

    def finish(self) -> None:
        clock = self.clock()
        for stage in ("decision", "account"):
            for key in list(self.stores[stage]):
                self.send(stage, key, "tick", None, None, clock)
        self.drain()

    def restart(self) -> None:
        """Revoke and re-assign: every state through msgpack, fresh stage objects."""
        for name, state_type in STATE_TYPES.items():
            encoded = {key: msgspec.msgpack.encode(s) for key, s in self.stores[name].items()}
            self.stores[name] = {key: msgspec.msgpack.decode(raw, type=state_type)
                                 for key, raw in encoded.items()}
        self._stages()

    def team_of(self, rep_id: str) -> str:
        entry = self.roster.get(rep_id)
        return UNASSIGNED if entry is None else entry.team

    def results(self) -> tuple[dict, dict, set[str]]:
        clock, stage = self.clock(), self.stages["rep"]
        reps = {rep: stage.kpis(state, self.team_of(rep), clock)
                for rep, state in self.stores["rep"].items()}
        teams: dict[str, TeamState] = {}
        for rep, state in self.stores["rep"].items():
            team = self.team_of(rep)
            teams[team] = self.team_stage.update(teams.get(team), rep,
                                                 stage.figures(state, clock))
        team_kpis = {team: self.team_stage.kpis(s, team, clock) for team, s in teams.items()}
        return reps, team_kpis, set(self.fired)


def engine_results(events: list[ev.Event]) -> tuple[dict, dict, set[str]]:
    engine = Engine(POLICY)
    fired: set[str] = set()
    for event in events:
        fired.update(v.violation_id for v in engine.apply(event).violations)
    reps = {rep: engine.rep_kpis(rep) for rep in engine.reps()}
    teams = {team: engine.team_kpis(team) for team in engine.teams()}
    return reps, teams, fired


def arrival_order(events: list[ev.Event], seed: int) -> list[ev.Event]:
    """Small reorderings within the lateness bound, plus a few redeliveries."""
    rnd = random.Random(seed)
    keyed = [(to_micros(e.occurred_at) + rnd.randint(0, 36 * 3600 * 10**6), i, e)
             for i, e in enumerate(events)]
    out = [e for _, _, e in sorted(keyed, key=lambda x: x[:2])]
    for _ in range(len(out) // 50):
        out.insert(rnd.randrange(len(out)), out[rnd.randrange(len(out))])
    return out


# --------------------------------------------------------------------------- tests


def test_every_state_round_trips_through_msgpack_mid_scenario() -> None:
    events = scenario()
    run = Partitioned(POLICY)
    run.run(events[: len(events) // 2])
    for name, state_type in STATE_TYPES.items():
        assert run.stores[name], name
        for state in run.stores[name].values():
            raw = msgspec.msgpack.encode(state)
            again = msgspec.msgpack.decode(raw, type=state_type)
            assert again == state and msgspec.msgpack.encode(again) == raw
    clock, stage = run.clock(), run.stages["rep"]
    team = TeamState()
    for rep, state in run.stores["rep"].items():
        state, _, _, figures = stage.snapshot(state, rep, run.team_of(rep), clock)
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(figures),
                                      type=RepFigures) == figures
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=RepState) == state
        team = run.team_stage.update(team, rep, figures)
    team, _, _ = run.team_stage.snapshot(team, "team-a", clock)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(team), type=TeamState) == team


def test_rep_messages_round_trip() -> None:
    events = scenario()[:400]
    run = Partitioned(POLICY)
    messages: list[Any] = []
    original = run.step

    def spy(stage: str, key: str, what: str, item: Any, *rest: Any) -> None:
        if stage == "rep" and not isinstance(item, ev.Envelope):
            messages.append(item)
        original(stage, key, what, item, *rest)

    run.step = spy  # type: ignore[method-assign]
    run.run(events)
    assert {type(m).__name__ for m in messages} >= {"DealDelta", "Touch", "Counted"}
    raw = msgspec.msgpack.encode(messages)
    assert msgspec.msgpack.decode(raw, type=list[RepMessage]) == messages


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partitioned_composition_equals_the_engine(seed: int) -> None:
    events = arrival_order(scenario(seed), seed)
    run = Partitioned(POLICY, n=3, seed=seed)
    run.run(events)
    run.finish()
    want_reps, want_teams, want_fired = engine_results(events)
    got_reps, got_teams, got_fired = run.results()
    assert want_fired and got_fired == want_fired
    assert got_reps == want_reps
    assert got_teams == want_teams


def test_a_duplicate_re_returns_the_violations_of_its_first_application() -> None:
    f = EventFactory()
    stage = DecisionStage(POLICY, {})
    grant = f.discount(f.t(0), "r1", 60.0)  # over authority, below the floor
    at = to_micros(grant.occurred_at)
    clock = Clock(at, at - span_micros(POLICY.lateness_days))
    first = stage.apply(None, grant, clock)
    assert first.outcome == "accepted"
    assert {v.rule for v in first.violations} == {"discount_over_authority",
                                                  "discount_below_floor"}
    state = msgspec.msgpack.decode(msgspec.msgpack.encode(first.state), type=DecisionState)
    again = stage.apply(state, grant, clock)
    assert again.outcome == "duplicate"
    assert msgspec.msgpack.encode(again.violations) == msgspec.msgpack.encode(first.violations)
    rep = RepStage(POLICY, {})
    rep_state = None
    for message in [*first.to_reps, *again.to_reps]:  # violations counted once
        rep_state = rep.apply(rep_state, message, clock).state
    assert rep_state is not None
    kpis = rep.kpis(rep_state, UNASSIGNED, clock)
    assert kpis["critical_violations_7d"].numerator == 2
    assert kpis["autonomy_level"].denominator == 1
    assert [v.violation_id for v in rep.recent_violations(rep_state)] == sorted(
        (v.violation_id for v in first.violations), reverse=True)


def test_a_revoke_like_restart_changes_nothing() -> None:
    events = arrival_order(scenario(3), 3)
    straight = Partitioned(POLICY, seed=3)
    straight.run(events)
    straight.finish()
    restarted = Partitioned(POLICY, seed=3)
    half = len(events) // 2
    restarted.run(events[:half])
    restarted.restart()
    restarted.run(events[half:])
    restarted.finish()
    assert restarted.results() == straight.results()


def test_a_won_close_is_judged_on_the_notes_it_needs_however_late_it_arrives() -> None:
    # The account stage's W can run far ahead of the decision stage's (stages lag each
    # other): the notes a closed_won update may need stay until its WonClose comes.
    f = EventFactory()
    stage = AccountStage(POLICY, {})
    lateness = span_micros(POLICY.lateness_days)

    def clock(days: float) -> Clock:
        at = to_micros(f.t(days))
        return Clock(at, at - lateness)

    note = f.note(f.t(0), "r1", body="Discussed pricing and next steps with the CFO; "
                  "agreed on a pilot scope, timeline and success criteria.", account="a1")
    assert is_qualifying(note.body, POLICY.notes)
    close = f.deal(f.t(3), "d1", stage=ev.Stage.CLOSED_WON, account="a1")
    state = stage.apply(None, note, clock(0), True).state
    state = stage.apply(state, close, clock(3)).state
    state = stage.tick(state, clock(200)).state  # W 200 days on: prunes
    won = WonClose("a1", "d1", close.event_id, to_micros(close.occurred_at), "r1", 1000.0)
    judged = stage.apply(state, won, clock(200))
    assert judged.violations == [] and judged.state.unsettled == {}
    # Settled, the note goes at the next sweep; a close without a note then fires.
    later = stage.tick(judged.state, clock(400)).state
    assert later.note_times == []
    again = WonClose("a1", "d2", "e2", to_micros(f.t(3)), "r1", 1000.0)
    assert [v.rule for v in stage.apply(later, again, clock(400)).violations] == [
        "closed_won_without_note"]


def test_a_swept_account_is_not_due_again_until_its_next_sweep() -> None:
    # Its first note is kept for an unsettled close, so the note's prunable time stays
    # in the past; due then, the account was ticked (and its state rewritten) at every
    # tick until the next sweep, SWEEP_DAYS of stream time later.
    f = EventFactory()
    stage = AccountStage(POLICY, {})
    lateness = span_micros(POLICY.lateness_days)
    note = f.note(f.t(0), "r1", body="Discussed pricing and next steps with the CFO; "
                  "agreed on a pilot scope, timeline and success criteria.", account="a1")
    close = f.deal(f.t(3), "d1", stage=ev.Stage.CLOSED_WON, account="a1")
    now = to_micros(f.t(200))
    clock = Clock(now, now - lateness)
    state = stage.apply(None, note, Clock(to_micros(f.t(0)), to_micros(f.t(0)) - lateness),
                        True).state
    state = stage.apply(state, close, clock).state
    swept = stage.tick(state, clock).state
    assert swept.note_times and swept.unsettled  # nothing the tick could prune
    assert stage.next_due(swept) == (now // DAY_US + SWEEP_DAYS) * DAY_US
