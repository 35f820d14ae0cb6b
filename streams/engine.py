"""The engine facade: one event in, state updated, violations out; KPIs on read.

``apply`` rejects late events and duplicates, moves stream time, routes the event to its
handler (deal stage, rep aggregates, approval book, note index), then runs what time
made due: deferred rules the watermark has passed, point-in-time rules whose threshold
T has crossed, and every few stream days the pruning of old state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from schemas import events as ev
from schemas.outputs import KpiValue, Severity, Violation
from streams import deals as d
from streams import guardrails as g
from streams import kpis as k
from streams.approvals import ApprovalBook
from streams.buckets import bump
from streams.clock import DAY_US, Deduplicator, StreamTime, from_micros, span_micros, to_micros
from streams.notes import NoteIndex, is_qualifying
from streams.policy_model import Policy
from streams.stage import DealStage

UNASSIGNED = "unassigned"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)
SWEEP_DAYS = 14  # prune old state once per this many stream days
_W = k.WIDTH
_RECORDERS: dict[type, Callable[[k.RepState, Any, int], None]] = {
    ev.LeadQualified: k.record_lead, ev.CoachingLogged: k.record_coaching,
    ev.SurveySubmitted: k.record_survey,
}


class Applied(msgspec.Struct, frozen=True, gc=False):
    """What one ``apply`` did: accepted / duplicate / late, and the violations fired."""

    outcome: str
    violations: list[Violation]


class _Roster(NamedTuple):
    at: int
    event_id: str
    team: str
    tier: str


class Engine:
    """Incremental KPIs and guardrail violations over a stream of CRM events."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.clock = StreamTime(span_micros(policy.lateness_days))
        self.seen = Deduplicator()
        self.roster: dict[str, _Roster] = {}
        self.rep_state: dict[str, k.RepState] = {}
        self.notes = NoteIndex()
        self.approvals = ApprovalBook(policy)
        self.stage = DealStage(policy, self.clock, self.notes, self.team_of, self._deliver)
        self._limits: dict[str, float] = {}
        self._swept: int | None = None
        self._next_sweep = -(1 << 62)  # T from which the next pruning sweep is due
        self._handlers: dict[type, Callable[[Any, int, list[Violation]], None]] = {
            ev.DealUpdated: self._deal, ev.DiscountGranted: self._discount,
            ev.NoteLogged: self._note, ev.ApprovalRequested: self._request,
            ev.ApprovalDecided: self._decision, ev.QuotaSet: self._quota,
            ev.RepUpdated: self._roster,
            **{kind: self._recorded for kind in _RECORDERS},
        }

    # ------------------------------------------------------------------------- writes

    def apply(self, event: ev.Event) -> Applied:
        """Apply one event; late events and duplicates change nothing."""
        at = (event.occurred_at - _EPOCH) // _ONE_US  # clock.to_micros, inlined: hot
        moved = self.clock.admit(at)
        if moved < 0:
            return Applied("late", [])
        if not self.seen.add_new(event.event_id, at):
            return Applied("duplicate", [])  # T did not move: the original is accepted
        out: list[Violation] = []
        self._handlers[type(event)](event, at, out)
        if moved:  # what the watermark passing made due (checks inlined: hot)
            watermark, grants = at - self.clock.lateness, self.approvals.queue
            deferred = self.stage.deferred
            if (at >= self._next_sweep or (grants and grants[0][0] < watermark)
                    or (deferred and deferred[0][0] < watermark)):
                self._time_moved(out)
        timers = self.stage.timers
        if timers and timers[0][0] <= at:
            self.stage.run_timers(out)
        if out:
            self._count(out)
        return Applied("accepted", out)

    def advance_to(self, now: dt.datetime) -> list[Violation]:
        """Live mode: move stream time to the wall clock ``now``; the violations due."""
        out: list[Violation] = []
        if self.clock.advance_to(to_micros(now)):
            self._time_moved(out)
            self.stage.run_timers(out)
            self._count(out)
        return out

    @property
    def stream_time(self) -> dt.datetime | None:
        """Stream time T, None before the first event."""
        return None if self.clock.now is None else from_micros(self.clock.now)

    # ---------------------------------------------------------------------- handlers

    def _rep(self, rep_id: str) -> k.RepState:
        rep = self.rep_state.get(rep_id)
        if rep is None:
            rep = self.rep_state[rep_id] = k.RepState()
        return rep

    def team_of(self, rep_id: str) -> str:
        """The rep's team in the roster known now (``unassigned`` when not in it)."""
        entry = self.roster.get(rep_id)
        return UNASSIGNED if entry is None else entry.team

    def _limit(self, rep_id: str) -> float:
        limit = self._limits.get(rep_id)
        if limit is None:
            entry = self.roster.get(rep_id)
            limit = self._limits[rep_id] = self.policy.tier_limit(entry and entry.tier)
        return limit

    def _count(self, violations: list[Violation]) -> None:
        """Credit fired violations to their reps' counters (by violation time)."""
        for violation in violations:
            day = to_micros(violation.occurred_at) // DAY_US
            counts = self._rep(violation.rep_id or UNASSIGNED).counts
            bump(counts, day, k.VIOLATIONS, _W)
            if violation.severity == Severity.CRITICAL:
                bump(counts, day, k.CRITICAL, _W)

    def _deliver(self, delta: d.DealDelta) -> None:
        k.apply_delta(self._rep(delta.rep_id), delta)

    def _recorded(self, event: Any, at: int, out: list[Violation]) -> None:
        _RECORDERS[type(event)](self._rep(event.rep_id), event, at // DAY_US)

    def _deal(self, event: ev.DealUpdated, at: int, out: list[Violation]) -> None:
        k.touch(self._rep(event.rep_id), event.account_id, at // DAY_US)
        self.stage.update(event, at, out)

    def _note(self, event: ev.NoteLogged, at: int, out: list[Violation]) -> None:
        k.touch(self._rep(event.rep_id), event.account_id, at // DAY_US)
        if is_qualifying(event.body, self.policy.notes):
            self.notes.add(event.account_id, at)
            if event.deal_id is not None:
                self.stage.note(event.deal_id, at, out)

    def _discount(self, event: ev.DiscountGranted, at: int, out: list[Violation]) -> None:
        rep, limit = self._rep(event.rep_id), self._limit(event.rep_id)
        k.record_discount(rep, event, at // DAY_US, limit)
        team = self.team_of(event.rep_id)
        for violation in (self.approvals.on_grant(event, at, limit, team),
                          g.floor_breach(event, at, team, self.policy)):
            if violation is not None:
                out.append(violation)

    def _request(self, event: ev.ApprovalRequested, at: int, out: list[Violation]) -> None:
        rep, limit = self._rep(event.rep_id), self._limit(event.rep_id)
        k.record_request(rep, at // DAY_US)
        violation = g.unnecessary_escalation(event, at, limit, self.team_of(event.rep_id))
        if violation is not None:
            out.append(violation)
        out += self.approvals.on_request(event, at, self.team_of)

    def _decision(self, event: ev.ApprovalDecided, at: int, out: list[Violation]) -> None:
        self._rep(event.rep_id)
        out += self.approvals.on_decision(event, at, self.team_of)

    def _quota(self, event: ev.QuotaSet, at: int, out: list[Violation]) -> None:
        k.set_quota(self._rep(event.rep_id), event.period,
                    k.Quota(at, event.event_id, event.amount))

    def _roster(self, event: ev.RepUpdated, at: int, out: list[Violation]) -> None:
        self._rep(event.rep_id)
        known = self.roster.get(event.rep_id)
        if known is None or (at, event.event_id) > (known.at, known.event_id):
            self.roster[event.rep_id] = _Roster(at, event.event_id, event.team, event.tier)
            self._limits.pop(event.rep_id, None)

    # -------------------------------------------------------------------------- time

    def _time_moved(self, out: list[Violation]) -> None:
        """Run what the watermark passing made due; remember when to look next."""
        now, watermark = self.clock.now, self.clock.watermark
        assert now is not None and watermark is not None
        out += self.approvals.expire(watermark, self.team_of)
        self.stage.judge_deferred(watermark, out)
        if self._swept is None or now // DAY_US >= self._swept + SWEEP_DAYS:
            self._sweep(now // DAY_US, watermark)
        self._next_sweep = (self._swept + SWEEP_DAYS) * DAY_US  # type: ignore[operator]

    def _sweep(self, today: int, watermark: int) -> None:
        self._swept = today
        self.seen.prune(watermark)
        note_days = self.policy.stages.closed_won_note_days
        self.notes.prune(today - 6, watermark - (note_days + 1) * DAY_US)
        for rep in self.rep_state.values():
            k.prune_rep(rep, today)

    # ------------------------------------------------------------------------- reads

    def _context(self) -> k.ReadContext:
        today = self.clock.now // DAY_US  # type: ignore[operator]
        return k.ReadContext(today, self.notes.last_day)

    def rep_kpis(self, rep_id: str) -> dict[str, KpiValue]:
        """Every KPI of a rep at stream time T ({} for an unknown rep)."""
        rep = self.rep_state.get(rep_id)
        if rep is None or self.clock.now is None:
            return {}
        team = self.team_of(rep_id)
        raw = k.raw_figures(rep, self._context())
        return k.judge_figures(raw, lambda name: self.policy.band(name, team))

    def team_kpis(self, team: str) -> dict[str, KpiValue]:
        """Every KPI of a team, from its current reps' summed figures ({} if no reps)."""
        members = [self.rep_state[r] for r in self.rep_state if self.team_of(r) == team]
        if not members or self.clock.now is None:
            return {}
        ctx = self._context()
        raw = k.team_figures(k.raw_figures(rep, ctx) for rep in members)
        out = k.judge_figures(raw, lambda name: self.policy.band(name, team))
        deals = [deal for rep in members for deal in rep.open_deals.values()]
        out["stalled_high_value_clusters"] = k.judge(
            k.stalled_clusters(deals, self.policy), None,
            self.policy.band("stalled_high_value_clusters", team))
        return out

    def reps(self) -> list[str]:
        """Every rep named by an accepted event."""
        return sorted(self.rep_state)

    def teams(self) -> list[str]:
        """The current teams of the known reps."""
        return sorted({self.team_of(rep) for rep in self.rep_state})

    def pending_violations(self) -> list[str]:
        """Ids of deferred violations still waiting for the watermark."""
        ids = {f"discount_over_authority:{grant}" for grant in self.approvals.pending}
        return sorted(ids | self.stage.pending_ids())

    def _open_deals(self) -> list[d.OpenDeal]:
        return [deal for rep in self.rep_state.values() for deal in rep.open_deals.values()]

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
