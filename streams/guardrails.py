"""Guardrail rules (docs/semantics.md, "Violations"): immediate checks, deferred deal
rules judged once the watermark has passed an update, and the point-in-time rules judged
on a deal's state at T. ``discount_over_authority`` lives with the approvals it needs,
in :mod:`streams.approvals`.

Every violation has a stable id ``rule:identity``; callers emit each id at most once.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.events import ApprovalRequested, DealUpdated, DiscountGranted
from schemas.outputs import Severity, Violation
from streams.clock import DAY_US, date_of_day, from_micros
from streams.deals import CLOSED, OPEN_ORDER, DealState, OpenDeal, Version
from streams.policy_model import Policy
from streams.stall import StallRule

SEVERITY: dict[str, Severity] = {
    "discount_over_authority": Severity.CRITICAL,
    "discount_below_floor": Severity.CRITICAL,
    "unnecessary_escalation": Severity.INFO,
    "missing_required_field": Severity.WARNING,
    "stage_skipped": Severity.WARNING,
    "closed_won_without_note": Severity.WARNING,
    "stale_close_date": Severity.WARNING,
    "deal_stalled": Severity.WARNING,
}

Values = dict[str, float | str | None]
TeamOf = Callable[[str], str]
HasNote = Callable[[str, int, int], bool]


def violation(
    rule: str, identity: str, *, rep: str, team: str, deal: str | None,
    account: str | None, values: Values, event_id: str | None, at: int,
) -> Violation:
    """A violation record with id ``rule:identity`` occurring at ``at`` (µs)."""
    return Violation(
        violation_id=f"{rule}:{identity}", rule=rule, severity=SEVERITY[rule], rep_id=rep,
        team=team, deal_id=deal, account_id=account, values=values, event_id=event_id,
        occurred_at=from_micros(at),
    )


# ------------------------------------------------------------------------ immediate rules


def below_floor(pct: float, policy: Policy) -> bool:
    """True when a discount of ``pct`` % leaves the net price below the pricing floor."""
    return (1 - pct / 100) < policy.floor_ratio


def floor_breach(event: DiscountGranted, at: int, team: str,
                 policy: Policy) -> Violation | None:
    """discount_below_floor when the discount leaves the net price below the floor."""
    pct = event.discount_pct
    if not below_floor(pct, policy):
        return None
    return violation(
        "discount_below_floor", event.event_id, rep=event.rep_id, team=team,
        deal=event.deal_id, account=None, event_id=event.event_id, at=at,
        values={"discount_pct": pct, "net_ratio": 1 - pct / 100,
                "floor_ratio": policy.floor_ratio})


def unnecessary_escalation(event: ApprovalRequested, at: int, limit: float,
                           team: str) -> Violation | None:
    """unnecessary_escalation when the request lies within the rep's own authority."""
    if event.requested_discount_pct > limit:
        return None
    return violation(
        "unnecessary_escalation", event.event_id, rep=event.rep_id, team=team,
        deal=event.deal_id, account=None, event_id=event.event_id, at=at,
        values={"requested_discount_pct": event.requested_discount_pct,
                "limit_pct": limit})


def missing_field_violations(event: DealUpdated, state: DealState, at: int, team: str,
                             policy: Policy) -> list[Violation]:
    """missing_required_field for each required field the update lacks, once per
    deal, stage and field."""
    out = []
    for name in missing_fields(event, policy):
        if not state.has_fired(f"{event.stage}:{name}"):
            state.mark_fired(f"{event.stage}:{name}")
            out.append(violation(
                "missing_required_field", f"{event.deal_id}:{event.stage}:{name}",
                rep=event.rep_id, team=team, deal=event.deal_id, account=event.account_id,
                event_id=event.event_id, at=at,
                values={"stage": str(event.stage), "field": name}))
    return out


def missing_fields(event: DealUpdated, policy: Policy) -> list[str]:
    """Required fields of the update's stage that are null or "" (amount: 0)."""
    missing = []
    for name in policy.stages.required_fields.get(event.stage, ()):
        value = getattr(event, name)
        if value is None or value == "" or (name == "amount" and value == 0):
            missing.append(name)
    return missing


# ------------------------------------------------------------------ deal rules (deferred)


def skip_identity(deal_id: str, prev: Version | None, version: Version,
                  policy: Policy) -> str | None:
    """The stage_skipped identity of a history pair, or None when it is no skip."""
    if prev is None or not policy.stages.forbid_skipping:
        return None
    before, after = OPEN_ORDER.get(prev.stage), OPEN_ORDER.get(version.stage)
    if before is None or after is None or after - before <= 1:
        return None
    return f"{deal_id}:{prev.stage}:{version.stage}:{version.event_id}"


def is_won_close(prev: Version | None, version: Version) -> bool:
    """True when the update closes the deal as won."""
    return version.stage == "closed_won" and (prev is None or prev.stage not in CLOSED)


def note_window(version: Version, policy: Policy) -> tuple[int, int]:
    """The µs span in which a qualifying note on the account excuses a won close."""
    days = policy.stages.closed_won_note_days
    return version.at - days * DAY_US, version.at


def judge_pair(
    deal_id: str, prev: Version | None, version: Version, policy: Policy,
    has_note: HasNote, team_of: TeamOf,
) -> list[Violation]:
    """Deferred rules of one history pair whose update the watermark has passed."""
    out = []
    skip = skip_identity(deal_id, prev, version, policy)
    if skip is not None and prev is not None:
        out.append(violation(
            "stage_skipped", skip, rep=version.rep_id, team=team_of(version.rep_id),
            deal=deal_id, account=version.account_id, event_id=version.event_id,
            at=version.at, values={"from_stage": prev.stage, "to_stage": version.stage},
        ))
    if is_won_close(prev, version) and not has_note(version.account_id,
                                                      *note_window(version, policy)):
        out.append(violation(
            "closed_won_without_note", f"{deal_id}:{version.event_id}", rep=version.rep_id,
            team=team_of(version.rep_id), deal=deal_id, account=version.account_id,
            event_id=version.event_id, at=version.at,
            values={"amount": version.amount,
                    "note_days": float(policy.stages.closed_won_note_days)},
        ))
    return out


def pending_pair_ids(
    deal_id: str, prev: Version | None, version: Version, policy: Policy,
    has_note: HasNote,
) -> list[str]:
    """Ids the deferred rules would fire for a pair not judged yet."""
    ids = []
    skip = skip_identity(deal_id, prev, version, policy)
    if skip is not None:
        ids.append(f"stage_skipped:{skip}")
    if is_won_close(prev, version) and not has_note(version.account_id,
                                                      *note_window(version, policy)):
        ids.append(f"closed_won_without_note:{deal_id}:{version.event_id}")
    return ids


# ------------------------------------------------------------------- point-in-time rules


def next_due(state: DealState) -> int | None:
    """The earliest stream time at which a point-in-time rule may newly hold for the
    deal's current state: its close date passing (not yet fired), or it stalling."""
    if state.open is None:
        return None
    deal = state.open.item
    due = None
    if deal.close_day is not None and not state.has_fired(deal.close_day):  # type: ignore[union-attr]
        due = (deal.close_day + 1) * DAY_US  # type: ignore[union-attr]
    if not deal.stalled and state.stall_due is not None:  # type: ignore[union-attr]
        due = state.stall_due if due is None else min(due, state.stall_due)
    return due


def judge_point_in_time(
    state: DealState, now: int, rule: StallRule, policy: Policy, team_of: TeamOf,
) -> list[Violation]:
    """stale_close_date / deal_stalled for the deal's current state at ``now``, each
    identity once."""
    if state.open is None:
        return []
    rep, deal = state.open.rep_id, state.open.item
    assert isinstance(deal, OpenDeal)
    current = state.history[-1]
    out = []
    close = deal.close_day
    if close is not None and now >= (close + 1) * DAY_US and not state.has_fired(close):
        state.mark_fired(close)
        out.append(violation(
            "stale_close_date", f"{deal.deal_id}:{date_of_day(close).isoformat()}",
            rep=rep, team=team_of(rep), deal=deal.deal_id, account=deal.account_id,
            event_id=None, at=max((close + 1) * DAY_US, current.at),
            values={"expected_close_date": date_of_day(close).isoformat(),
                    "stage": deal.stage, "amount": deal.amount},
        ))
    if deal.stalled and not state.has_fired(f"{deal.stage}@{state.stall_start}"):
        state.mark_fired(f"{deal.stage}@{state.stall_start}")
        start = from_micros(state.stall_start).isoformat()
        moment = rule.moment(deal.stage, state.stall_start, current.snooze_day)
        out.append(violation(
            "deal_stalled", f"{deal.deal_id}:{deal.stage}:{start}", rep=rep,
            team=team_of(rep), deal=deal.deal_id, account=deal.account_id, event_id=None,
            at=max(moment, current.at),
            values={"stage": deal.stage, "amount": deal.amount,
                    "stall_days": float(policy.stages.stall_days[deal.stage]),
                    "stall_clock_start": start},
        ))
    return out
