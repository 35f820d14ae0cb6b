"""What the rep stage keeps for the /metrics counters (docs/metrics.md, "Guardrails and
activity"): violations per rule that never decrease, and the rep's last activity."""

from __future__ import annotations

from typing import Any

from schemas.decode import decode
from streams import guardrails as g
from streams.clock import DAY_US, from_micros, to_micros
from streams.policy_model import default_policy
from streams.stages import Clock, Counted, Fired, RepStage, RepState, Touch
from tests.samples import encode_json, valid_event

STAGE = RepStage(default_policy(), {})
T0 = to_micros(decode(encode_json(valid_event("lead.qualified"))).occurred_at)


def clock(at: int) -> Clock:
    return Clock(at, at - 7 * DAY_US)


def fired(rule: str, identity: str, at: int) -> Fired:
    found = g.violation(rule, identity, rep="rep-a1", team="team-a", deal="deal-1",
                        account=None, values={}, event_id=f"e-{identity}", at=at)
    return Fired("rep-a1", found)


def apply_all(items: list[tuple[Any, int]]) -> RepState:
    state = None
    for item, at in items:
        state = STAGE.apply(state, item, clock(at)).state
    assert state is not None
    return state


def event(type_name: str, event_id: str, at_day: int) -> tuple[Any, int]:
    """A sample event ``at_day`` days after the samples' time, and its time (µs)."""
    at = T0 + at_day * DAY_US
    raw = valid_event(type_name, event_id=event_id, occurred_at=from_micros(at).isoformat())
    return decode(encode_json(raw)), at


def test_violation_totals_count_each_violation_once_per_rule_and_survive_pruning() -> None:
    state = apply_all([
        (fired("discount_over_authority", "a", T0), T0),
        (fired("discount_over_authority", "a", T0), T0),  # a redelivery: same id
        (fired("discount_over_authority", "b", T0), T0),
        (fired("deal_stalled", "c", T0), T0),
    ])
    assert state.violation_totals == {"discount_over_authority": 2, "deal_stalled": 1}
    later = T0 + 60 * DAY_US
    STAGE.prune(state, clock(later))
    assert state.violation_days == {}, "the 30-day memory is pruned"
    assert state.violation_totals == {"discount_over_authority": 2, "deal_stalled": 1}


def test_last_activity_is_the_latest_own_event_time() -> None:
    lead, lead_at = event("lead.qualified", "l-1", 0)
    older, _ = event("coaching.logged", "c-1", -3)
    quota, quota_at = event("quota.set", "q-1", 5)  # set by management: not activity
    roster, _ = event("rep.updated", "r-1", 6)
    state = apply_all([(lead, lead_at), (older, lead_at), (quota, quota_at),
                       (roster, quota_at)])
    assert state.last_activity == lead_at
    decision = Counted("rep-a1", "d-1", lead_at + DAY_US, decision=True)
    state = STAGE.apply(state, decision, clock(lead_at + DAY_US)).state
    assert state.last_activity == lead_at + DAY_US
    day = (lead_at + 3 * DAY_US) // DAY_US
    state = STAGE.apply(state, Touch("rep-a1", "acct-1", day), clock(lead_at)).state
    assert state.last_activity == day * DAY_US, "deal updates count to the day"


def test_a_new_rep_has_no_activity_and_no_violations() -> None:
    state = RepState()
    assert state.violation_totals == {}
    assert state.last_activity < 0
