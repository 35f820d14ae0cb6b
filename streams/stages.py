"""The engine as keyed, partitioned stages (docs/topology.md, "The pure stage API").

Each stage is pure: it takes one key's state (or None), one item and the Clock, and
returns the new state, the outcome, the messages for the rep stage (``to_reps``), for
the account stage (``to_accounts``) and the violations fired. States and messages are
msgspec Structs (msgpack into RocksDB tables / internal topics).

Keys and what each stage sees (routing by the ingest agent):

- ``DecisionStage``, key ``deal_id``: ``deal.updated`` (the deal's state: upsert,
  history, required fields, stage skips, stale / stalled), ``note.logged`` with a
  ``deal_id`` (the stall clock), ``discount.granted``, ``approval.requested``,
  ``approval.decided`` (autonomy, utilisation, discount rules). A won close, once final
  (W > close time), goes to the account stage as a ``WonClose`` to be judged there.
- ``AccountStage``, key ``account_id``: ``note.logged`` (qualifying note times),
  ``deal.updated`` and ``survey.submitted`` (which reps are active on the account) and
  ``WonClose`` from the decision stage (``closed_won_without_note``). It tells every rep
  active on the account the last day of a qualifying note on it (``NoteDay``): hygiene.
- ``RepStage``, key ``rep_id``: ``lead.qualified``, ``quota.set``, ``coaching.logged``,
  ``survey.submitted``, ``note.logged``, ``rep.updated`` and every ``RepMessage``.
- ``TeamStage``, key ``team``: the reps' ``RepFigures``.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Mapping
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec

from schemas import events as ev
from schemas.outputs import Alert, KpiSnapshot, KpiValue, Scope, Severity, Violation
from streams import deals as d
from streams import guardrails as g
from streams import kpis as k
from streams import violation_memory as vm
from streams.alerts import AlertBook, _Firing
from streams.approvals import PendingGrant, over_authority
from streams.buckets import add_term, bump
from streams.clock import DAY_US, from_micros, span_micros, to_micros
from streams.policy_model import Policy
from streams.stall import StallRule

__all__ = [
    "UNASSIGNED", "AccountMessage", "AccountStage", "AccountState", "Clock", "Counted",
    "DecisionStage", "DecisionState", "Fired", "NoteDay", "RepFigures", "RepMessage",
    "RepStage", "RepState", "RosterEntry", "StepResult", "TeamStage", "TeamState", "Touch",
    "WonClose",
]

UNASSIGNED = "unassigned"
NEVER = d.NEVER
KEEP = 1 << 40  # "last touch day" of a rep that updated a deal on the account: never pruned
PRUNE_AT = 6  # prune a deal's history when it is longer than this
SWEEP_DAYS = 14  # prune a rep's windows (and an account's subscribers) this often
UNSETTLED_MAX = 365 * DAY_US  # an account forgets a closed_won update unsettled this long
RECENT_DAYS = 30
_W = k.WIDTH
S = TypeVar("S")


class Clock(msgspec.Struct, frozen=True, gc=False):
    """Stream time T and the watermark W, µs since the epoch (a Struct, not a
    NamedTuple: the engine makes one per event, and a Struct is built in C)."""

    now: int
    watermark: int


class RosterEntry(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """The latest ``rep.updated`` of a rep (by occurred_at, event_id)."""

    at: int
    event_id: str
    team: str
    tier: str
    manager_id: str | None = None
    active: bool = True


# ----------------------------------------------------------------------------- messages


class Touch(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="touch"):
    """The rep updated a deal on ``account_id`` on ``day`` (keeps the account active)."""

    rep_id: str
    account_id: str
    day: int


class Counted(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="count"):
    """A discount / approval event of the rep: its decision counts and utilisation term
    (all empty for ``approval.decided``: it only makes the rep known). Idempotent: the
    rep de-duplicates it by ``event_id``."""

    rep_id: str
    event_id: str
    at: int
    decision: bool = False
    autonomous: bool = False
    escalation: bool = False
    utilisation: float | None = None


class Fired(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="fired"):
    """A violation credited to the rep (counts, recent list); de-duplicated by id."""

    rep_id: str
    violation: Violation


class NoteDay(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="note"):
    """The last UTC day with a qualifying note (by anyone) on ``account_id``."""

    rep_id: str
    account_id: str
    day: int


RepMessage = d.DealDelta | Touch | Counted | Fired | NoteDay


class WonClose(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="won"):
    """A ``closed_won`` update whose history pair is final (W > ``at``). ``won``: it
    closes the deal as won, so judge closed_won_without_note against the account's
    notes; otherwise it only tells the account stage the update is settled. Sent keyed
    by ``account_id``."""

    account_id: str
    deal_id: str
    event_id: str
    at: int
    rep_id: str
    amount: float
    won: bool = True


AccountMessage = WonClose


class StepResult(NamedTuple, Generic[S]):
    """What one stage call returns."""

    state: S
    outcome: str  # "accepted" | "duplicate"
    to_reps: list[Any]  # RepMessage, each sent keyed by its .rep_id
    violations: list[Violation]  # keyed by violation_id
    to_accounts: list[Any] = []  # AccountMessage (WonClose), keyed by .account_id


# ------------------------------------------------------------------------- shared parts


class _Keyed(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """De-duplication memory of one key: event ids (occurred_at ≥ W) and what the first
    application fired, re-returned for a duplicate."""

    seen: dict[str, int] = msgspec.field(default_factory=dict)
    replies: dict[str, list[Violation]] = msgspec.field(default_factory=dict)
    pruned_day: int = NEVER


def _duplicate(state: _Keyed, event_id: str) -> list[Violation] | None:
    if event_id not in state.seen:
        return None
    return list(state.replies.get(event_id, ()))


def _remember(state: _Keyed, event_id: str, at: int, fired: list[Violation],
              watermark: int) -> None:
    day = watermark // DAY_US
    if day >= state.pruned_day + SWEEP_DAYS:  # not daily: a scan per key per day was ~5 % of CPU
        state.pruned_day = day
        first = day * DAY_US
        old = [i for i, t in state.seen.items() if t < first]
        for i in old:
            del state.seen[i]
            state.replies.pop(i, None)
    state.seen[event_id] = at
    if fired:
        state.replies[event_id] = list(fired)


def _fired_messages(violations: list[Violation]) -> list[Any]:
    return [Fired(v.rep_id or UNASSIGNED, v) for v in violations]


class _Roster:
    def __init__(self, policy: Policy, roster: Mapping[str, RosterEntry]) -> None:
        self.policy, self.roster = policy, roster

    def team_of(self, rep_id: str) -> str:
        entry = self.roster.get(rep_id)
        return UNASSIGNED if entry is None else entry.team

    def limit_of(self, rep_id: str) -> float:
        entry = self.roster.get(rep_id)
        return self.policy.tier_limit(None if entry is None else entry.tier)


# ---------------------------------------------------------------------- decision stage


class Decided(msgspec.Struct, frozen=True, array_like=True, gc=False):
    at: int
    approved: bool
    decided_by: str
    pct: float | None


class DecisionState(_Keyed, kw_only=True):
    """One deal: its history and rule state, and the approvals / grants on it."""

    deal_id: str
    deal: d.DealState | None = None
    deferred: list[int] = msgspec.field(default_factory=list)  # heap of update times
    requests: dict[str, list[tuple[int, str, float]]] = msgspec.field(default_factory=dict)
    decisions: dict[str, list[Decided]] = msgspec.field(default_factory=dict)
    pending: dict[str, PendingGrant] = msgspec.field(default_factory=dict)


class DecisionStage(_Roster):
    """Deals and decisions, keyed by deal_id."""

    def __init__(self, policy: Policy, roster: Mapping[str, RosterEntry]) -> None:
        super().__init__(policy, roster)
        self.stall = StallRule(policy.stages)
        self.lateness = span_micros(policy.lateness_days)
        self._required = policy.stages.required_fields
        self.manager_max = policy.approvals.manager_max_discount_pct
        self.executives = policy.approvals.executive_approvers

    def apply(self, state: DecisionState | None, event: Any, clock: Clock,
              qualifying: bool | None = None) -> StepResult[DecisionState]:
        if state is None:
            state = DecisionState(deal_id=event.deal_id)
        again = _duplicate(state, event.event_id)
        if again is not None:
            return StepResult(state, "duplicate", _fired_messages(again), again, [])
        at = to_micros(event.occurred_at)
        out: list[Violation] = []
        msgs: list[Any] = []
        self.step(state, event, at, clock, qualifying, out, msgs)
        _remember(state, event.event_id, at, out, clock.watermark)
        msgs += _fired_messages(out)
        return StepResult(state, "accepted", msgs, out, [])

    def step(self, state: DecisionState, event: Any, at: int, clock: Clock,
             qualifying: bool | None, out: list[Violation], msgs: list[Any]) -> None:
        """``apply`` without its de-duplication, for a caller that lets each event
        through once (the single-process engine de-duplicates globally, before routing):
        ``at`` is the event time in µs; appends the violations fired to ``out`` and the
        rep messages to ``msgs``, except the ``Fired`` of those violations."""
        kind = type(event)
        if kind is ev.DealUpdated:
            self._update(state, event, at, clock, out, msgs)
        elif kind is ev.NoteLogged:
            if qualifying:
                deal = self._deal(state)
                if d.note(deal, at) and deal.open is not None and deal.open.item.stalled:  # type: ignore[union-attr]
                    self._evaluate(state, clock.now, out, msgs)
        elif kind is ev.DiscountGranted:
            self._discount(state, event, at, out, msgs)
        elif kind is ev.ApprovalRequested:
            self._request(state, event, at, out, msgs)
        elif kind is ev.ApprovalDecided:
            msgs.append(Counted(event.rep_id, event.event_id, at))
            self._decision(state, event, at, out)
        else:
            raise TypeError(f"DecisionStage does not take {kind.__name__}")

    # deals ------------------------------------------------------------------------

    @staticmethod
    def _deal(state: DecisionState) -> d.DealState:
        if state.deal is None:
            state.deal = d.DealState(deal_id=state.deal_id)
        return state.deal

    def _update(self, state: DecisionState, event: ev.DealUpdated, at: int, clock: Clock,
                out: list[Violation], msgs: list[Any]) -> None:
        deal = self._deal(state)
        msgs.append(Touch(event.rep_id, event.account_id, at // DAY_US))
        if event.stage in self._required:
            out += g.missing_field_violations(event, deal, at, self.team_of(event.rep_id),
                                              self.policy)
        history = deal.history
        if len(history) > PRUNE_AT:
            limit = clock.watermark
            if state.deferred:
                limit = min(limit, state.deferred[0])
            if history[1].at < limit:
                d.prune(deal, limit)
        before = history[-1] if history else None
        deltas, deferred = d.upsert(deal, d.version_of(event, at))
        msgs += deltas
        for when in deferred:
            heapq.heappush(state.deferred, when)
        current = history[-1]
        if before is None or current is before or not d.same_item(before, current):
            self._evaluate(state, clock.now, out, msgs)

    def _evaluate(self, state: DecisionState, now: int, out: list[Violation],
                  msgs: list[Any]) -> None:
        deal = state.deal
        assert deal is not None
        msgs += d.refresh(deal, now, self.stall)
        item = deal.open.item if deal.open is not None else None
        if item is not None and (item.stalled or (  # type: ignore[union-attr]
                item.close_day is not None and now >= (item.close_day + 1) * DAY_US)):  # type: ignore[union-attr]
            out += g.judge_point_in_time(deal, now, self.stall, self.policy, self.team_of)
        deal.timer = g.next_due(deal)

    def _judge_deferred(self, state: DecisionState, watermark: int, out: list[Violation],
                        accounts: list[Any]) -> None:
        deferred = state.deferred
        while deferred and deferred[0] < watermark:
            heapq.heappop(deferred)
        deal = state.deal
        assert deal is not None
        for prev, version in d.unjudged(deal, watermark):
            skip = g.skip_identity(deal.deal_id, prev, version, self.policy)
            if skip is not None and prev is not None:
                out.append(g.violation(
                    "stage_skipped", skip, rep=version.rep_id,
                    team=self.team_of(version.rep_id), deal=deal.deal_id,
                    account=version.account_id, event_id=version.event_id, at=version.at,
                    values={"from_stage": prev.stage, "to_stage": version.stage}))
            if version.stage == "closed_won":
                accounts.append(WonClose(version.account_id, deal.deal_id, version.event_id,
                                         version.at, version.rep_id, version.amount,
                                         g.is_won_close(prev, version)))

    # decisions --------------------------------------------------------------------

    def _discount(self, state: DecisionState, event: ev.DiscountGranted, at: int,
                  out: list[Violation], msgs: list[Any]) -> None:
        limit, pct = self.limit_of(event.rep_id), event.discount_pct
        alone = event.approval_id is None
        msgs.append(Counted(event.rep_id, event.event_id, at, decision=alone,
                            autonomous=alone and pct <= limit, utilisation=pct / limit))
        team = self.team_of(event.rep_id)
        if pct > limit:
            grant = PendingGrant(at, event.event_id, event.rep_id, event.deal_id,
                                 event.approval_id, pct, limit)
            judged = "missing" if alone else self._grant_state(state, grant)
            if judged == "unknown":
                state.pending[grant.event_id] = grant
            elif judged != "valid":
                out.append(over_authority(grant, team, judged))
        floor = g.floor_breach(event, at, team, self.policy)
        if floor is not None:
            out.append(floor)

    def _request(self, state: DecisionState, event: ev.ApprovalRequested, at: int,
                 out: list[Violation], msgs: list[Any]) -> None:
        limit = self.limit_of(event.rep_id)
        msgs.append(Counted(event.rep_id, event.event_id, at, decision=True, escalation=True))
        found = g.unnecessary_escalation(event, at, limit, self.team_of(event.rep_id))
        if found is not None:
            out.append(found)
        entry = (at, event.event_id, event.requested_discount_pct)
        state.requests.setdefault(event.approval_id, []).append(entry)
        self._settle(state, event.approval_id, out)

    def _decision(self, state: DecisionState, event: ev.ApprovalDecided, at: int,
                  out: list[Violation]) -> None:
        decided = Decided(at, event.decision == ev.Decision.APPROVED, event.decided_by,
                          event.requested_discount_pct)
        state.decisions.setdefault(event.approval_id, []).append(decided)
        self._settle(state, event.approval_id, out)

    def _settle(self, state: DecisionState, approval_id: str, out: list[Violation]) -> None:
        for grant in [p for p in state.pending.values() if p.approval_id == approval_id]:
            judged = self._grant_state(state, grant)
            if judged != "unknown":
                del state.pending[grant.event_id]
                if judged == "invalid":
                    out.append(over_authority(grant, self.team_of(grant.rep_id), "invalid"))

    def _grant_state(self, state: DecisionState, grant: PendingGrant) -> str:
        decisions = state.decisions.get(grant.approval_id or "", ())
        states = {self._judge(state, grant, one) for one in decisions}
        for judged in ("valid", "unknown", "invalid"):
            if judged in states:
                return judged
        return "unknown"

    def _judge(self, state: DecisionState, grant: PendingGrant, decided: Decided) -> str:
        if (not decided.approved or decided.at > grant.at
                or not (grant.pct <= self.manager_max or decided.decided_by in self.executives)):
            return "invalid"
        covered = decided.pct
        if covered is None:
            earlier = [r for r in state.requests.get(grant.approval_id or "", ())
                       if r[0] <= grant.at]
            if not earlier:
                return "unknown"
            covered = max(earlier)[2]
        return "valid" if covered >= grant.pct else "invalid"

    # time -------------------------------------------------------------------------

    def tick(self, state: DecisionState, clock: Clock) -> StepResult[DecisionState]:
        """Run what is due at ``clock``: grants and history pairs the watermark has
        passed, the point-in-time rules whose due time T has reached."""
        out: list[Violation] = []
        msgs: list[Any] = []
        accounts: list[Any] = []
        now, watermark = clock.now, clock.watermark
        if state.pending:
            for grant in sorted(state.pending.values(), key=lambda p: (p.at, p.event_id)):
                if grant.at < watermark:
                    del state.pending[grant.event_id]
                    out.append(over_authority(grant, self.team_of(grant.rep_id), "missing"))
        if state.deferred and state.deferred[0] < watermark:
            self._judge_deferred(state, watermark, out, accounts)
        deal = state.deal
        if deal is not None and deal.timer is not None and deal.timer <= now:
            later = g.next_due(deal)  # from the cached stall due, which notes only delay
            if later is not None and later > now:
                deal.timer = later
            else:
                self._evaluate(state, now, out, msgs)
        msgs += _fired_messages(out)
        return StepResult(state, "accepted", msgs, out, accounts)

    def next_due(self, state: DecisionState) -> int | None:
        """The earliest stream time T at which ``tick`` has work (W-based work is due
        once W = T - lateness passes it), or None."""
        deal = state.deal
        due = None if deal is None else deal.timer
        if state.deferred or state.pending:  # rare: most deals wait for T alone
            for at in (state.deferred[0] if state.deferred else None,
                       min((p.at for p in state.pending.values()), default=None)):
                if at is not None:
                    when = at + self.lateness + 1
                    due = when if due is None else min(due, when)
        return due

    def pending_ids(self, state: DecisionState,
                    has_note: Callable[[str, int, int], bool]) -> set[str]:
        """Ids that deferred rules would fire for this deal (``has_note``: is there a
        qualifying note on an account in a µs span, from the account stage)."""
        ids = {f"discount_over_authority:{grant}" for grant in state.pending}
        if state.deferred and state.deal is not None:
            for prev, version in d.pending_pairs(state.deal):
                ids.update(g.pending_pair_ids(state.deal_id, prev, version, self.policy,
                                              has_note))
        return ids


# ----------------------------------------------------------------------- account stage


class AccountState(_Keyed, kw_only=True):
    """One account: its qualifying note times, and the reps active on it."""

    account_id: str
    note_times: list[int] = msgspec.field(default_factory=list)  # sorted µs
    last_day: int = NEVER  # last UTC day with a qualifying note
    reps: dict[str, int] = msgspec.field(default_factory=dict)  # rep -> last day (KEEP)
    # closed_won updates seen here whose WonClose has not come yet: event id -> µs. The
    # notes they may need are kept, however far this stage's W runs ahead of the
    # decision stage's (stages lag each other by any amount of event time).
    unsettled: dict[str, int] = msgspec.field(default_factory=dict)
    swept: int = NEVER


class AccountStage(_Roster):
    """Notes per account (hygiene, closed_won_without_note), keyed by account_id."""

    def __init__(self, policy: Policy, roster: Mapping[str, RosterEntry], *,
                 fan_out: bool = True) -> None:
        """``fan_out=False``: keep no subscribers and send no ``NoteDay``, for a caller
        that reads each account's ``last_day`` itself when it reads a rep's hygiene (the
        single-process engine: the reps' note days are exactly those, see RepStage.kpis)."""
        super().__init__(policy, roster)
        self.note_days = policy.stages.closed_won_note_days
        self.lateness = span_micros(policy.lateness_days)
        self.fan_out = fan_out

    def apply(self, state: AccountState | None, event: Any, clock: Clock,
              qualifying: bool | None = None) -> StepResult[AccountState]:
        if state is None:
            state = AccountState(account_id=event.account_id)
        kind = type(event)
        key = f"won:{event.event_id}" if kind is WonClose else event.event_id
        again = _duplicate(state, key)
        if again is not None:
            return StepResult(state, "duplicate", _fired_messages(again), again, [])
        out: list[Violation] = []
        msgs: list[Any] = []
        at = event.at if kind is WonClose else to_micros(event.occurred_at)
        self.step(state, event, at, qualifying, out, msgs)
        self._prune(state, clock)
        _remember(state, key, at, out, clock.watermark)
        msgs += _fired_messages(out)
        return StepResult(state, "accepted", msgs, out, [])

    def step(self, state: AccountState, item: Any, at: int, qualifying: bool | None,
             out: list[Violation], msgs: list[Any]) -> None:
        """``apply`` without its de-duplication and pruning, for a caller that lets each
        item through once and ticks every account every SWEEP_DAYS (the single-process
        engine): ``at`` is the item's time in µs; appends the violations fired to
        ``out`` and the rep messages to ``msgs``, except the ``Fired`` of those."""
        kind = type(item)
        if kind is WonClose:
            state.unsettled.pop(item.event_id, None)
            if item.won:
                self._won(state, item, out)
            return
        if kind is not ev.DealUpdated and kind is not ev.NoteLogged \
                and kind is not ev.SurveySubmitted:
            raise TypeError(f"AccountStage does not take {kind.__name__}")
        if kind is ev.DealUpdated and item.stage == "closed_won":
            state.unsettled[item.event_id] = at
        if self.fan_out:
            self._subscribe(state, item.rep_id, KEEP if kind is ev.DealUpdated else at // DAY_US,
                            msgs)
        if qualifying and kind is ev.NoteLogged:
            self._note(state, at, msgs)

    def _subscribe(self, state: AccountState, rep_id: str, day: int, msgs: list[Any]) -> None:
        known = state.reps.get(rep_id)
        if known is None:
            state.reps[rep_id] = day
            if state.last_day != NEVER:
                msgs.append(NoteDay(rep_id, state.account_id, state.last_day))
        elif known < day:
            state.reps[rep_id] = day

    def _note(self, state: AccountState, at: int, msgs: list[Any]) -> None:
        times = state.note_times
        if not times or at >= times[-1]:
            times.append(at)
        else:
            bisect.insort(times, at)
        day = at // DAY_US
        if day > state.last_day:
            state.last_day = day
            if self.fan_out:
                msgs += [NoteDay(rep, state.account_id, day) for rep in state.reps]

    def has_note(self, state: AccountState | None, first: int, last: int) -> bool:
        """True when a qualifying note on the account occurred in ``[first, last]`` µs."""
        if state is None or not state.note_times:
            return False
        times = state.note_times
        i = bisect.bisect_left(times, first)
        return i < len(times) and times[i] <= last

    def _won(self, state: AccountState, won: WonClose, out: list[Violation]) -> None:
        if self.has_note(state, won.at - self.note_days * DAY_US, won.at):
            return
        out.append(g.violation(
            "closed_won_without_note", f"{won.deal_id}:{won.event_id}", rep=won.rep_id,
            team=self.team_of(won.rep_id), deal=won.deal_id, account=won.account_id,
            event_id=won.event_id, at=won.at,
            values={"amount": won.amount, "note_days": float(self.note_days)}))

    def _prune(self, state: AccountState, clock: Clock) -> None:
        today = clock.now // DAY_US
        if today < state.swept + SWEEP_DAYS:
            return
        state.swept = today
        # A WonClose may arrive after W has passed its close by up to about a lateness
        # (ticks lag the clock): keep that margin of note times, and those the unsettled
        # closes may need.
        first = clock.watermark - self.lateness - (self.note_days + 1) * DAY_US
        unsettled = state.unsettled
        for event_id in [e for e, at in unsettled.items() if at < first - UNSETTLED_MAX]:
            del unsettled[event_id]  # never settled (e.g. pruned from its deal's history)
        if unsettled:
            first = min(first, min(unsettled.values()) - (self.note_days + 1) * DAY_US)
        times = state.note_times
        if times and times[0] < first:
            del times[: bisect.bisect_left(times, first)]
        gone = [rep for rep, day in state.reps.items() if day < today - 89]
        for rep in gone:
            del state.reps[rep]

    def tick(self, state: AccountState, clock: Clock) -> StepResult[AccountState]:
        """Nothing is judged by time here; prunes old note times and subscribers."""
        self._prune(state, clock)
        return StepResult(state, "accepted", [], [], [])

    def next_due(self, state: AccountState) -> int | None:
        """When old note times become prunable (None: nothing to do), and not before
        ``_prune`` sweeps again: a key due earlier was ticked, and rewritten, at every
        tick until then (up to SWEEP_DAYS of stream time)."""
        if not state.note_times:
            return None
        prunable = (state.note_times[0] + self.lateness
                    + (self.note_days + 1 + SWEEP_DAYS) * DAY_US)
        return max(prunable, (state.swept + SWEEP_DAYS) * DAY_US)


# --------------------------------------------------------------------------- rep stage


class RepFigures(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A rep's numerators and denominators at a stream time (summed for its team),
    packed (``kpis.pack_figures``), and its stalled high-value deals per stage (the
    team's clusters). Figures sent or stored as a dict, before they were packed, are
    packed as they are decoded."""

    packed: bytes | dict[str, tuple[float, float | None]]
    stalled_high_value: dict[str, int]

    def __post_init__(self) -> None:
        if isinstance(self.packed, dict):
            msgspec.structs.force_setattr(self, "packed", k.pack_figures(self.packed))

    @classmethod
    def of(cls, raw: k.Raw, stalled_high_value: dict[str, int]) -> RepFigures:
        return cls(k.pack_figures(raw), stalled_high_value)

    @property
    def raw(self) -> k.Raw:
        assert isinstance(self.packed, bytes)  # packed by __post_init__
        return k.unpack_figures(self.packed)


class RepState(k.RepState, kw_only=True, gc=False, omit_defaults=True):
    """One rep: the KPI aggregates plus hygiene notes, violations, alerts, de-dup."""

    seen: dict[str, int] = msgspec.field(default_factory=dict)  # event id -> µs
    violation_days: dict[str, int] = msgspec.field(default_factory=dict)  # id -> day
    recent_kept: list[bytes] = msgspec.field(default_factory=list)  # violation_memory.py
    alerts: dict[str, _Firing] = msgspec.field(default_factory=dict)  # kpi -> firing
    swept: int = NEVER
    # Never pruned, so Prometheus can export them as counters (docs/metrics.md).
    violation_totals: dict[str, int] = msgspec.field(default_factory=dict)  # rule -> count
    last_activity: int = NEVER  # µs: latest event time of the rep's own activity
    # Stored by earlier versions: folded into the account entries as decoded.
    note_days: dict[str, int] | None = None  # account -> day
    # Stored by earlier versions: packed into ``recent_kept`` as decoded.
    recent: list[Violation] | None = None  # newest first

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.note_days:
            for account_id, day in self.note_days.items():
                k.note(self, account_id, day)
        self.note_days = None
        if self.recent:
            self.recent_kept = [vm.pack(v) for v in self.recent[:vm.RECENT_MAX]]
        self.recent = None


_RECORDERS: dict[type, Callable[[k.RepState, Any, int], None]] = {
    ev.LeadQualified: k.record_lead, ev.CoachingLogged: k.record_coaching,
    ev.SurveySubmitted: k.record_survey,
}


def _fired(state: RepState, message: Fired) -> None:
    violation = message.violation
    vid = violation.violation_id
    if vid in state.violation_days:
        return
    day = to_micros(violation.occurred_at) // DAY_US
    state.violation_days[vid] = day
    rule = violation.rule
    state.violation_totals[rule] = state.violation_totals.get(rule, 0) + 1
    bump(state.counts, day, k.VIOLATIONS, _W)
    if violation.severity == Severity.CRITICAL:
        bump(state.counts, day, k.CRITICAL, _W)
    vm.keep(state.recent_kept, violation)


def _note_day(state: RepState, message: NoteDay) -> None:
    k.note(state, message.account_id, message.day)


def _touch(state: RepState, message: Touch) -> None:
    k.touch(state, message.account_id, message.day)
    _active(state, message.day * DAY_US)  # a deal update is known to the day only


# The keyed rep messages and how each is applied (RepStage.receive).
_RECEIVERS: dict[type, Callable[[Any, Any], None]] = {
    NoteDay: _note_day, Touch: _touch, d.DealDelta: k.apply_delta, Fired: _fired,
}


class RepStage(_Roster):
    """Rep aggregates, keyed by rep_id."""

    def __init__(self, policy: Policy, roster: Mapping[str, RosterEntry]) -> None:
        super().__init__(policy, roster)

    def apply(self, state: RepState | None, item: Any, clock: Clock,
              qualifying: bool | None = None) -> StepResult[RepState]:
        kind = type(item)
        if kind in _RECEIVERS:
            return StepResult(self.receive(state, item, clock), "accepted", [], [], [])
        if state is None:
            state = RepState()
        if item.event_id in state.seen:
            return StepResult(state, "duplicate", [], [], [])
        if kind is Counted:
            at = item.at
            self.deliver(state, item)
        else:
            at = to_micros(item.occurred_at)
            self.step(state, item, at)
        self._remember(state, item.event_id, at)
        self.prune(state, clock)
        return StepResult(state, "accepted", [], [], [])

    def step(self, state: RepState, event: Any, at: int) -> None:
        """Apply a rep-keyed event that occurred at ``at`` µs, without the de-duplication
        and pruning of ``apply``: for a caller that lets each event through once and
        prunes every rep every SWEEP_DAYS (the single-process engine)."""
        kind = type(event)
        day = at // DAY_US
        recorder = _RECORDERS.get(kind)
        if recorder is not None:
            recorder(state, event, day)
        elif kind is ev.NoteLogged:
            k.touch(state, event.account_id, day)
        elif kind is ev.QuotaSet:
            k.set_quota(state, event.period, k.Quota(at, event.event_id, event.amount))
        elif kind is not ev.RepUpdated:
            raise TypeError(f"RepStage does not take {kind.__name__}")
        if kind not in _ADMINISTRATIVE:
            _active(state, at)

    def deliver(self, state: RepState, message: Any) -> None:
        """Apply a message of another stage, ``Counted`` included, without de-duplication
        or pruning (see ``step``)."""
        kind = type(message)
        if kind is Counted:
            self._counted(state, message)
            _active(state, message.at)
        else:
            _RECEIVERS[kind](state, message)

    def receive(self, state: RepState | None, message: Any, clock: Clock) -> RepState:
        """Apply a message of another stage (DealDelta, Touch, NoteDay, Fired), without
        de-duplication; the new state. Touch, NoteDay, Fired, closes and pushes change
        nothing when applied twice; an open-deal delta must be applied once (the
        runtime's receivers skip what they applied before). ``apply`` does the same for
        them, wrapped in a StepResult."""
        if state is None:
            state = RepState()
        _RECEIVERS[type(message)](state, message)
        if clock.now // DAY_US >= state.swept + SWEEP_DAYS:  # prune's test, without a call
            self.prune(state, clock)
        return state

    @staticmethod
    def _remember(state: RepState, event_id: str, at: int) -> None:
        state.seen[event_id] = at  # forgotten by the sweep (prune), not per event: cheaper

    @staticmethod
    def _counted(state: RepState, item: Counted) -> None:
        day = item.at // DAY_US
        if item.utilisation is not None:
            add_term(state.utilisation, day, item.utilisation)
        if item.decision:
            bump(state.counts, day, k.DECISIONS, _W)
        if item.autonomous:
            bump(state.counts, day, k.AUTONOMOUS, _W)
        if item.escalation:
            bump(state.counts, day, k.ESCALATIONS, _W)

    def prune(self, state: RepState, clock: Clock) -> None:
        """Forget what no window reads any more (every SWEEP_DAYS stream days)."""
        today = clock.now // DAY_US
        if today < state.swept + SWEEP_DAYS:
            return
        state.swept = today
        # Ids before the watermark's day: such an event is rejected as late upstream.
        first = clock.watermark // DAY_US * DAY_US
        for old in [i for i, t in state.seen.items() if t < first]:
            del state.seen[old]
        k.prune_rep(state, today)
        first = today - (RECENT_DAYS - 1)
        for vid in [v for v, day in state.violation_days.items() if day < first]:
            del state.violation_days[vid]
        state.recent_kept = vm.since(state.recent_kept, first)

    def figures(self, state: RepState, clock: Clock,
                last_note_day: Mapping[bytes, int] | None = None) -> RepFigures:
        """The rep's numerators and denominators at ``clock.now`` (``last_note_day``:
        as for ``kpis``)."""
        return self._figures(state, self._raw(state, clock, last_note_day))

    @staticmethod
    def _raw(state: RepState, clock: Clock,
             last_note_day: Mapping[bytes, int] | None = None) -> k.Raw:
        return k.raw_figures(state, k.ReadContext(clock.now // DAY_US, last_note_day))

    def _figures(self, state: RepState, raw: k.Raw) -> RepFigures:
        return RepFigures.of(raw, k.stalled_high_value(state, self.policy.high_value_amount))

    def kpis(self, state: RepState, team: str, clock: Clock,
             last_note_day: Mapping[bytes, int] | None = None) -> dict[str, KpiValue]:
        """Every KPI of the rep at ``clock.now`` with the bands of ``team``.

        ``last_note_day``: every account's last day with a qualifying note, from a
        caller that holds the account states (AccountState.last_day) and so sent no
        ``NoteDay``; by default the days the account stage sent (in the rep's account
        entries). The two agree on every account the rep is active on: it is
        subscribed to each (same events, same 89-day cut), and a subscriber is sent
        every new last day."""
        return self._judge(self._raw(state, clock, last_note_day), team)

    def _judge(self, raw: k.Raw, team: str) -> dict[str, KpiValue]:
        return k.judge_figures(raw, lambda name: self.policy.band(name, team))

    def snapshot(self, state: RepState, rep_id: str, team: str, clock: Clock
                 ) -> tuple[RepState, KpiSnapshot, list[Alert], RepFigures]:
        """KPIs, the alert transitions (hysteresis state kept in ``state``) and the
        figures for the team."""
        self.prune(state, clock)
        raw = self._raw(state, clock)  # read once for both
        kpis = self._judge(raw, team)
        alerts = _observe(self.policy, state.alerts, Scope.REP, rep_id, team, kpis, clock)
        now = from_micros(clock.now)
        snap = KpiSnapshot(scope=Scope.REP, id=rep_id, team=team, stream_time=now, kpis=kpis)
        return state, snap, alerts, self._figures(state, raw)

    def recent_violations(self, state: RepState) -> list[Violation]:
        """The rep's last ≤ 50 violations, newest first (none older than 30 days)."""
        return [vm.unpack(kept) for kept in state.recent_kept]


# Records about the rep made by others: not the rep's activity.
_ADMINISTRATIVE = (ev.RepUpdated, ev.QuotaSet)


def _active(state: RepState, at: int) -> None:
    if at > state.last_activity:
        state.last_activity = at


def _observe(policy: Policy, firing: dict[str, _Firing], scope: Scope, scope_id: str,
             team: str | None, kpis: dict[str, KpiValue], clock: Clock) -> list[Alert]:
    book = AlertBook(policy.alerts)
    book.firing = {(scope.value, scope_id, kpi): f for kpi, f in firing.items()}
    alerts = book.observe_all(scope, scope_id, team, kpis,
                              lambda name: policy.band(name, team), from_micros(clock.now))
    firing.clear()
    firing.update({key[2]: f for key, f in book.firing.items()})
    return alerts


# -------------------------------------------------------------------------- team stage


class TeamState(msgspec.Struct, kw_only=True, gc=False):
    """A team: its reps' latest figures, and its alert state."""

    members: dict[str, RepFigures] = msgspec.field(default_factory=dict)
    alerts: dict[str, _Firing] = msgspec.field(default_factory=dict)


class TeamStage:
    """Team KPIs from the summed figures of its reps, keyed by team."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def update(self, state: TeamState | None, rep_id: str,
               figures: RepFigures | None) -> TeamState:
        """A rep's new figures (None: the rep left the team)."""
        if state is None:
            state = TeamState()
        if figures is None:
            state.members.pop(rep_id, None)
        else:
            state.members[rep_id] = figures
        return state

    def kpis(self, state: TeamState, team: str, clock: Clock) -> dict[str, KpiValue]:
        """Every team KPI ({} without members)."""
        members = list(state.members.values())
        if not members:
            return {}
        raw = k.team_figures(m.packed for m in members)  # type: ignore[misc]
        band_of = self._band_of(team)
        out = k.judge_figures(raw, band_of)
        per_stage: dict[str, int] = {}
        for member in members:
            for stage, n in member.stalled_high_value.items():
                per_stage[stage] = per_stage.get(stage, 0) + n
        clusters = sum(1 for n in per_stage.values() if n >= self.policy.high_value_cluster)
        out["stalled_high_value_clusters"] = k.judge(
            clusters, None, band_of("stalled_high_value_clusters"))
        return out

    def _band_of(self, team: str) -> Callable[[str], Any]:
        return lambda name: self.policy.band(name, team)

    def snapshot(self, state: TeamState, team: str, clock: Clock
                 ) -> tuple[TeamState, KpiSnapshot, list[Alert]]:
        """Team KPIs and alert transitions (hysteresis state kept in ``state``)."""
        kpis = self.kpis(state, team, clock)
        alerts = _observe(self.policy, state.alerts, Scope.TEAM, team, team, kpis, clock)
        snap = KpiSnapshot(scope=Scope.TEAM, id=team, team=team,
                           stream_time=from_micros(clock.now), kpis=kpis)
        return state, snap, alerts
