"""Approvals and ``discount_over_authority`` (docs/semantics.md, "Approval of a grant").

A discount above the rep's own authority needs a valid approval. The book keeps every
request and decision; a grant whose approval is still unknown waits here until one
arrives or the watermark passes the grant (then nothing can validate it any more).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import msgspec

from schemas.events import ApprovalDecided, ApprovalRequested, Decision, DiscountGranted
from schemas.outputs import Violation
from streams.guardrails import violation
from streams.policy_model import Policy

TeamOf = Callable[[str], str]


class PendingGrant(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A discount above the rep's authority whose approval is not settled yet."""

    at: int
    event_id: str
    rep_id: str
    deal_id: str
    approval_id: str | None
    pct: float
    limit: float


class _Decided(msgspec.Struct, frozen=True, array_like=True, gc=False):
    at: int
    approved: bool
    decided_by: str
    pct: float | None


class ApprovalBook:
    """Approval requests and decisions, and the grants still waiting for one."""

    def __init__(self, policy: Policy) -> None:
        self.manager_max = policy.approvals.manager_max_discount_pct
        self.executives = policy.approvals.executive_approvers
        self.requests: dict[str, list[tuple[int, str, float]]] = {}
        self.decisions: dict[str, list[_Decided]] = {}
        self.pending: dict[str, PendingGrant] = {}
        self._by_approval: dict[str, set[str]] = {}
        self.queue: list[tuple[int, str]] = []  # (grant time, grant id), a heap

    def on_grant(self, event: DiscountGranted, at: int, limit: float,
                 team: str) -> Violation | None:
        """Judge a discount against the rep's ``limit``: the violation when it is over
        authority without a valid approval now; held when the approval is unknown."""
        if event.discount_pct <= limit:
            return None
        grant = PendingGrant(at, event.event_id, event.rep_id, event.deal_id,
                             event.approval_id, event.discount_pct, limit)
        state = "missing" if event.approval_id is None else self.state(grant)
        if state == "unknown":
            self.wait(grant)
        return None if state in ("valid", "unknown") else over_authority(grant, team, state)

    def on_request(self, event: ApprovalRequested, at: int, team_of: TeamOf) -> list[Violation]:
        """Store a request; violations of waiting grants it proves invalid."""
        return _fire(self.record_request(event, at), "invalid", team_of)

    def on_decision(self, event: ApprovalDecided, at: int, team_of: TeamOf) -> list[Violation]:
        """Store a decision; violations of waiting grants it proves invalid."""
        return _fire(self.record_decision(event, at), "invalid", team_of)

    def expire(self, watermark: int, team_of: TeamOf) -> list[Violation]:
        """Violations of waiting grants the watermark has passed: no approval came."""
        return _fire(self.expired(watermark), "missing", team_of)

    def state(self, grant: PendingGrant) -> str:
        """'valid', 'invalid' or 'unknown' for a grant citing an approval."""
        decisions = self.decisions.get(grant.approval_id or "", ())
        states = {self._judge(grant, d) for d in decisions}
        for state in ("valid", "unknown", "invalid"):
            if state in states:
                return state
        return "unknown"

    def _judge(self, grant: PendingGrant, decided: _Decided) -> str:
        if (
            not decided.approved
            or decided.at > grant.at
            or not (grant.pct <= self.manager_max or decided.decided_by in self.executives)
        ):
            return "invalid"
        covered = decided.pct
        if covered is None:
            requests = self.requests.get(grant.approval_id or "", ())
            earlier = [r for r in requests if r[0] <= grant.at]
            if not earlier:
                return "unknown"
            covered = max(earlier)[2]
        return "valid" if covered >= grant.pct else "invalid"

    def wait(self, grant: PendingGrant) -> None:
        """Hold a grant whose approval is unknown until the watermark passes it
        (``queue[0][0]`` is the earliest such grant's time)."""
        assert grant.approval_id is not None
        self.pending[grant.event_id] = grant
        self._by_approval.setdefault(grant.approval_id, set()).add(grant.event_id)
        heapq.heappush(self.queue, (grant.at, grant.event_id))

    def record_request(self, event: ApprovalRequested, at: int) -> list[PendingGrant]:
        """Store a request; the waiting grants it proves invalid (to fire now)."""
        entry = (at, event.event_id, event.requested_discount_pct)
        self.requests.setdefault(event.approval_id, []).append(entry)
        return self._settle(event.approval_id)

    def record_decision(self, event: ApprovalDecided, at: int) -> list[PendingGrant]:
        """Store a decision; the waiting grants it proves invalid (to fire now)."""
        decided = _Decided(
            at, event.decision == Decision.APPROVED, event.decided_by,
            event.requested_discount_pct,
        )
        self.decisions.setdefault(event.approval_id, []).append(decided)
        return self._settle(event.approval_id)

    def _settle(self, approval_id: str) -> list[PendingGrant]:
        invalid = []
        for grant_id in list(self._by_approval.get(approval_id, ())):
            grant = self.pending[grant_id]
            state = self.state(grant)
            if state != "unknown":
                self._drop(grant)
                if state == "invalid":
                    invalid.append(grant)
        return invalid

    def _drop(self, grant: PendingGrant) -> None:
        del self.pending[grant.event_id]
        approval_id = grant.approval_id or ""
        waiting = self._by_approval[approval_id]
        waiting.discard(grant.event_id)
        if not waiting:
            del self._by_approval[approval_id]

    def expired(self, watermark: int) -> list[PendingGrant]:
        """Waiting grants the watermark has passed: their approval never came."""
        out = []
        queue = self.queue
        while queue and queue[0][0] < watermark:
            _, grant_id = heapq.heappop(queue)
            grant = self.pending.get(grant_id)
            if grant is not None:
                self._drop(grant)
                out.append(grant)
        return out


def _fire(grants: list[PendingGrant], why: str, team_of: TeamOf) -> list[Violation]:
    return [over_authority(grant, team_of(grant.rep_id), why) for grant in grants]


def over_authority(grant: PendingGrant, team: str, approval: str) -> Violation:
    """The discount_over_authority violation of a grant."""
    return violation(
        "discount_over_authority", grant.event_id, rep=grant.rep_id, team=team,
        deal=grant.deal_id, account=None, event_id=grant.event_id, at=grant.at,
        values={"discount_pct": grant.pct, "limit_pct": grant.limit,
                "approval_id": grant.approval_id, "approval": approval},
    )


