"""The deal-keyed stage at run time: every deal's state, its timer for the point-in-time
rules and its deferred judgements, and the deltas it sends to the rep aggregates.

In the Faust runtime this is the part partitioned by deal; ``send`` is the topic
repartitioned by rep (here: a callback the engine gives).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from schemas.events import DealUpdated
from schemas.outputs import Violation
from streams import deals as d
from streams import guardrails as g
from streams.clock import DAY_US, StreamTime
from streams.notes import NoteIndex
from streams.policy_model import Policy
from streams.stall import StallRule

PRUNE_AT = 6  # prune a deal's history when it is longer than this


class DealStage:
    """Deal states, the timer queue (point-in-time rules) and the deferred queue."""

    def __init__(self, policy: Policy, clock: StreamTime, notes: NoteIndex,
                 team_of: Callable[[str], str], send: Callable[[d.DealDelta], None]) -> None:
        self.policy, self.clock, self.notes = policy, clock, notes
        self.team_of, self.send = team_of, send
        self.stall = StallRule(policy.stages)
        self.deals: dict[str, d.DealState] = {}
        self.timers: list[tuple[int, str]] = []  # (due, deal_id), a heap
        self.deferred: list[tuple[int, str]] = []  # (update time, deal_id), a heap
        self._required = policy.stages.required_fields

    def state(self, deal_id: str) -> d.DealState:
        """The deal's state (empty for a deal not seen yet)."""
        state = self.deals.get(deal_id)
        if state is None:
            state = self.deals[deal_id] = d.DealState(deal_id=deal_id)
        return state

    def update(self, event: DealUpdated, at: int, out: list[Violation]) -> None:
        """Apply a deal update (``at`` = its time in µs)."""
        state = self.state(event.deal_id)
        if event.stage in self._required:
            out += g.missing_field_violations(event, state, at, self.team_of(event.rep_id),
                                              self.policy)
        history = state.history
        if len(history) > PRUNE_AT:
            self._prune(state)
        before = history[-1] if history else None
        deltas, deferred = d.upsert(state, d.version_of(event, at))
        for delta in deltas:
            self.send(delta)
        for when in deferred:
            heapq.heappush(self.deferred, (when, state.deal_id))
        current = history[-1]
        if before is None or current is before or not d.same_item(before, current):
            self.evaluate(state, out)  # else appended: same item, stall clock and timer

    def note(self, deal_id: str, at: int, out: list[Violation]) -> None:
        """A qualifying note on the deal at ``at`` restarts its stall clock."""
        state = self.state(deal_id)
        # A later note only postpones stalling: a deal not stalled now is left to its
        # timer, which re-evaluates it with the new clock start when due.
        if d.note(state, at) and state.open is not None and state.open.item.stalled:  # type: ignore[union-attr]
            self.evaluate(state, out)

    def _prune(self, state: d.DealState) -> None:
        """Drop history no rule needs: before the watermark, and before the earliest
        update still waiting for a deferred judgement (every earlier one is judged)."""
        limit = self.clock.watermark
        if self.deferred and limit is not None:
            limit = min(limit, self.deferred[0][0])
        if limit is not None and state.history[1].at < limit:
            d.prune(state, limit)

    def evaluate(self, state: d.DealState, out: list[Violation]) -> None:
        """Refresh a changed (or due) deal at T: its pipeline item, the point-in-time
        rules, and its next due time in the timer queue."""
        now = self.clock.now
        assert now is not None
        for delta in d.refresh(state, now, self.stall):
            self.send(delta)
        deal = state.open.item if state.open is not None else None
        if deal is not None and (deal.stalled or (  # type: ignore[union-attr]
                deal.close_day is not None and now >= (deal.close_day + 1) * DAY_US)):  # type: ignore[union-attr]
            out += g.judge_point_in_time(state, now, self.stall, self.policy, self.team_of)
        due = g.next_due(state)
        if due is None:
            state.timer = None
        elif state.timer is None or due < state.timer:
            state.timer = due
            heapq.heappush(self.timers, (due, state.deal_id))

    def run_timers(self, out: list[Violation]) -> None:
        """Re-evaluate the deals whose due time stream time has reached."""
        now, timers = self.clock.now, self.timers
        while timers and timers[0][0] <= now:  # type: ignore[operator]
            due, deal_id = heapq.heappop(timers)
            state = self.deals[deal_id]
            if state.timer != due:
                continue
            state.timer = None
            later = g.next_due(state)  # from the cached stall due, which notes only delay
            if later is not None and later > now:  # type: ignore[operator]
                state.timer = later
                heapq.heappush(timers, (later, deal_id))
            else:
                self.evaluate(state, out)

    def judge_deferred(self, watermark: int, out: list[Violation]) -> None:
        """Judge the history pairs the watermark has passed (stage skips, won closes)."""
        deferred = self.deferred
        while deferred and deferred[0][0] < watermark:
            _, deal_id = heapq.heappop(deferred)
            self._judge(self.deals[deal_id], watermark, out)

    def _judge(self, state: d.DealState, watermark: int, out: list[Violation]) -> None:
        for prev, version in d.unjudged(state, watermark):
            out += g.judge_pair(state.deal_id, prev, version, self.policy,
                                self.notes.any_between, self.team_of)

    def pending_ids(self) -> set[str]:
        """Ids the deferred deal rules would fire for pairs not judged yet."""
        ids: set[str] = set()
        for deal_id in {deal for _, deal in self.deferred}:
            for prev, version in d.pending_pairs(self.deals[deal_id]):
                ids.update(g.pending_pair_ids(deal_id, prev, version, self.policy,
                                              self.notes.any_between))
        return ids
