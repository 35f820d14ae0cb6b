"""The engine facade: the single-process composition of the keyed stages
(:mod:`streams.stages`, docs/topology.md) with one dict per stage as its store and one
global clock: T = the largest event time, W = T - lateness.

``apply`` rejects late events (against T before the event) and duplicates, routes the
event to the stages that own its keys, delivers their messages in order (rep messages to
the rep stage, won closes to the account stage), then ticks the keys whose due time T
has reached. Team KPIs are computed at read time from the current reps' figures.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable
from typing import Any

import msgspec

from schemas import events as ev
from schemas.outputs import KpiValue, Violation
from streams import deals as d
from streams.clock import DAY_US, Deduplicator, StreamTime, from_micros, span_micros, to_micros
from streams.kpis import account_key
from streams.notes import is_qualifying
from streams.policy_model import Policy
from streams.stages import (
    SWEEP_DAYS,
    UNASSIGNED,
    AccountStage,
    AccountState,
    Clock,
    DecisionStage,
    DecisionState,
    Fired,
    RepStage,
    RepState,
    RosterEntry,
    StepResult,
    TeamStage,
    TeamState,
)

__all__ = ["UNASSIGNED", "Applied", "Engine"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)


class Applied(msgspec.Struct, frozen=True, gc=False):
    """What one ``apply`` did: accepted / duplicate / late, and the violations fired."""

    outcome: str
    violations: list[Violation]


class _Notes:
    """Read-only view of the accounts' qualifying note times (tests, diagnostics)."""

    def __init__(self, accounts: dict[str, AccountState]) -> None:
        self.times = {a: s.note_times for a, s in accounts.items() if s.note_times}


class Engine:
    """Incremental KPIs and guardrail violations over a stream of CRM events."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.clock = StreamTime(span_micros(policy.lateness_days))
        self.seen = Deduplicator()
        self.roster: dict[str, RosterEntry] = {}
        # One process holds every account: hygiene reads the accounts' last note days
        # (_note_days) instead of a NoteDay copy per subscribed rep (~11 per account).
        # Without subscribers, the account stage needs only qualifying notes and WonClose.
        self.account_stage = AccountStage(policy, self.roster, fan_out=False)
        self.decision_stage = DecisionStage(policy, self.roster)
        self.rep_stage = RepStage(policy, self.roster)
        self.team_stage = TeamStage(policy)
        self.account_state: dict[str, AccountState] = {}
        self.decision_state: dict[str, DecisionState] = {}
        self.rep_state: dict[str, RepState] = {}
        self._note_days: dict[bytes, int] = {}  # account_key -> AccountState.last_day
        self._due: list[tuple[int, str]] = []  # (due T, deal_id), a heap
        self._due_of: dict[str, int] = {}
        self._next_day = -(1 << 62)  # start of the next stream day (daily pruning)
        self._swept: int | None = None
        self._now: Clock | None = None  # the Clock at T (see _clock)
        self._lateness = self.clock.lateness
        self._note_quality = policy.notes
        self._routes: dict[type, Callable[[Any, int, Clock, list[Violation]], None]] = {
            ev.DealUpdated: self._decision_event, ev.NoteLogged: self._note_logged,
            ev.DiscountGranted: self._decision_event,
            ev.ApprovalRequested: self._decision_event,
            ev.ApprovalDecided: self._decision_event,
            ev.RepUpdated: self._rep_updated,
        }  # every other event type (surveys included) goes to the rep stage only

    # ------------------------------------------------------------------------- writes

    def apply(self, event: ev.Event) -> Applied:
        """Apply one event; late events and duplicates change nothing."""
        at = (event.occurred_at - _EPOCH) // _ONE_US  # clock.to_micros, inlined: hot
        moved = self.clock.admit(at)
        if moved < 0:
            return Applied("late", [])
        if not self.seen.add_new(event.event_id, at):
            return Applied("duplicate", [])  # T did not move: the original is accepted
        if moved:  # T moves for most events (they arrive nearly in time order)
            clock = self._now = Clock(at, at - self._lateness)
        else:
            clock = self._now or self._clock()
        out: list[Violation] = []
        self._routes.get(type(event), self._rep_event)(event, at, clock, out)
        due = self._due
        if due and due[0][0] <= clock.now:
            self._run_due(clock, out)
        # After the deferred rules: they may still read what pruning drops.
        if moved and at >= self._next_day:
            self._time_moved(clock, out)
        return Applied("accepted", out)

    def advance_to(self, now: dt.datetime) -> list[Violation]:
        """Live mode: move stream time to the wall clock ``now``; the violations due."""
        out: list[Violation] = []
        if self.clock.advance_to(to_micros(now)):
            clock = self._clock()
            self._run_due(clock, out)
            self._time_moved(clock, out)
        return out

    @property
    def stream_time(self) -> dt.datetime | None:
        """Stream time T, None before the first event."""
        return None if self.clock.now is None else from_micros(self.clock.now)

    # ----------------------------------------------------------------------- routing

    def _clock(self) -> Clock:
        """The Clock at T (kept in ``_now`` until T moves)."""
        now = self.clock.now
        assert now is not None
        self._now = Clock(now, now - self.clock.lateness)
        return self._now

    def _note_logged(self, event: ev.NoteLogged, at: int, clock: Clock,
                     out: list[Violation]) -> None:
        if is_qualifying(event.body, self._note_quality):  # others change only the rep
            self._account(event.account_id, event, at, True, out)
            self._note_days[account_key(event.account_id)] = (
                self.account_state[event.account_id].last_day)
            if event.deal_id is not None:
                self._decision(event.deal_id, event, at, clock, True, out)
        self._rep_event(event, at, clock, out)

    def _decision_event(self, event: Any, at: int, clock: Clock,
                        out: list[Violation]) -> None:
        self._decision(event.deal_id, event, at, clock, None, out)

    def _rep_updated(self, event: ev.RepUpdated, at: int, clock: Clock,
                     out: list[Violation]) -> None:
        known = self.roster.get(event.rep_id)
        if known is None or (at, event.event_id) > (known.at, known.event_id):
            self.roster[event.rep_id] = RosterEntry(at, event.event_id, event.team,
                                                    event.tier, event.manager_id,
                                                    event.active)
        self._rep_event(event, at, clock, out)

    # The stages are called through their ``step`` methods: no per-key de-duplication
    # (``apply`` let each event through once, and every message is derived from one),
    # no per-key pruning (``_time_moved`` prunes every key every SWEEP_DAYS).

    def _rep_event(self, event: Any, at: int, clock: Clock, out: list[Violation]) -> None:
        state = self.rep_state.get(event.rep_id)
        if state is None:
            state = self.rep_state[event.rep_id] = RepState()
        self.rep_stage.step(state, event, at)

    def _account(self, account_id: str, item: Any, at: int, qualifying: bool | None,
                 out: list[Violation]) -> None:
        state = self.account_state.get(account_id)
        if state is None:
            state = self.account_state[account_id] = AccountState(account_id=account_id)
        msgs: list[Any] = []
        fired: list[Violation] = []
        self.account_stage.step(state, item, at, qualifying, fired, msgs)
        if msgs or fired:
            self._send(msgs, fired, out)

    def _decision(self, deal_id: str, event: Any, at: int, clock: Clock,
                  qualifying: bool | None, out: list[Violation]) -> None:
        state = self.decision_state.get(deal_id)
        if state is None:
            state = self.decision_state[deal_id] = DecisionState(deal_id=deal_id)
        msgs: list[Any] = []
        fired: list[Violation] = []
        self.decision_stage.step(state, event, at, clock, qualifying, fired, msgs)
        if msgs or fired:
            self._send(msgs, fired, out)
        self._schedule(deal_id, state)

    def _schedule(self, deal_id: str, state: DecisionState) -> None:
        due = self.decision_stage.next_due(state)
        if due is not None and self._due_of.get(deal_id) != due:
            self._due_of[deal_id] = due
            heapq.heappush(self._due, (due, deal_id))

    def _send(self, msgs: list[Any], fired: list[Violation], out: list[Violation]) -> None:
        """Deliver a stage's rep messages, then credit its violations to their reps (in
        the order ``apply`` returns them: ``to_reps`` ends with the ``Fired``)."""
        if fired:
            out += fired
            msgs += [Fired(v.rep_id or UNASSIGNED, v) for v in fired]
        states, deliver = self.rep_state, self.rep_stage.deliver
        for message in msgs:
            state = states.get(message.rep_id)
            if state is None:
                state = states[message.rep_id] = RepState()
            deliver(state, message)

    def _deliver(self, result: StepResult[Any], out: list[Violation]) -> None:
        """Deliver what a stage's ``tick`` returned (its ``to_reps`` hold the Fired)."""
        out += result.violations
        self._send(result.to_reps, [], out)
        for message in result.to_accounts:
            self._account(message.account_id, message, message.at, None, out)

    # -------------------------------------------------------------------------- time

    def _run_due(self, clock: Clock, out: list[Violation]) -> None:
        """Tick the deals whose due time T has reached."""
        due, due_of, states = self._due, self._due_of, self.decision_state
        while due and due[0][0] <= clock.now:
            when, deal_id = heapq.heappop(due)
            if due_of.get(deal_id) != when:
                continue
            del due_of[deal_id]
            self._deliver(self.decision_stage.tick(states[deal_id], clock), out)
            self._schedule(deal_id, states[deal_id])

    def _time_moved(self, clock: Clock, out: list[Violation]) -> None:
        """Daily: forget old event ids; every SWEEP_DAYS: prune every key's state."""
        if clock.now < self._next_day:
            return
        today = clock.now // DAY_US
        self.seen.prune(clock.watermark)
        self._next_day = (today + 1) * DAY_US
        if self._swept is not None and today < self._swept + SWEEP_DAYS:
            return
        self._swept = today
        for state in self.account_state.values():
            self._deliver(self.account_stage.tick(state, clock), out)
        for state in self.rep_state.values():
            self.rep_stage.prune(state, clock)

    # ------------------------------------------------------------------------- reads

    def team_of(self, rep_id: str) -> str:
        """The rep's team in the roster known now (``unassigned`` when not in it)."""
        entry = self.roster.get(rep_id)
        return UNASSIGNED if entry is None else entry.team

    @property
    def notes(self) -> _Notes:
        """The accounts' qualifying note times."""
        return _Notes(self.account_state)

    def rep_kpis(self, rep_id: str) -> dict[str, KpiValue]:
        """Every KPI of a rep at stream time T ({} for an unknown rep)."""
        rep = self.rep_state.get(rep_id)
        if rep is None or self.clock.now is None:
            return {}
        return self.rep_stage.kpis(rep, self.team_of(rep_id), self._clock(),
                                   self._note_days)

    def team_kpis(self, team: str) -> dict[str, KpiValue]:
        """Every KPI of a team, from its current reps' summed figures ({} if no reps)."""
        members = [r for r in self.rep_state if self.team_of(r) == team]
        if not members or self.clock.now is None:
            return {}
        clock = self._clock()
        state = TeamState()
        for rep_id in members:
            self.team_stage.update(state, rep_id, self.rep_stage.figures(
                self.rep_state[rep_id], clock, self._note_days))
        return self.team_stage.kpis(state, team, clock)

    def reps(self) -> list[str]:
        """Every rep named by an accepted event."""
        return sorted(self.rep_state)

    def teams(self) -> list[str]:
        """The current teams of the known reps."""
        return sorted({self.team_of(rep) for rep in self.rep_state})

    def pending_violations(self) -> list[str]:
        """Ids of deferred violations still waiting for the watermark."""
        accounts, stage = self.account_state, self.account_stage

        def has_note(account_id: str, first: int, last: int) -> bool:
            return stage.has_note(accounts.get(account_id), first, last)

        ids: set[str] = set()
        for state in self.decision_state.values():
            if state.pending or state.deferred:
                ids |= self.decision_stage.pending_ids(state, has_note)
        return sorted(ids)

    def _open_deals(self) -> list[d.OpenDeal]:
        """The open items the deal stage applied to the reps."""
        return [state.deal.open.item for state in self.decision_state.values()
                if state.deal is not None and state.deal.open is not None
                and isinstance(state.deal.open.item, d.OpenDeal)]

    def stale_deals(self) -> set[str]:
        """Open deals whose expected close date lies before date(T)."""
        if self.clock.now is None:
            return set()
        today = self.clock.now // DAY_US
        return {deal.deal_id for deal in self._open_deals()
                if deal.close_day is not None and deal.close_day < today}

    def stalled_deals(self) -> set[str]:
        """Open deals stalled at T."""
        return {deal.deal_id for deal in self._open_deals() if deal.stalled}
