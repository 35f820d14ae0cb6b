"""A rep's packed violation memory (streams/violation_memory.py): each violation
credited once, the last ≤ 50 newest first, forgotten by day, and the rep states stored
before it was packed read back the same."""

from __future__ import annotations

import msgspec

from schemas.outputs import Violation
from streams import guardrails as g
from streams import violation_memory as vm
from streams.clock import DAY_US, from_micros
from streams.policy_model import default_policy
from streams.stages import Clock, Fired, RepStage, RepState
from tests.unit.test_rep_counters import T0

DAY0 = T0 // DAY_US


def violation(identity: str, day: int, hour: int = 0) -> Violation:
    return g.violation("discount_over_authority", identity, rep="rep-a1", team="team-a",
                       deal=f"deal-{identity}", account="acct-1",
                       values={"discount_pct": 25.0, "authority": "ae"},
                       event_id=f"e-{identity}", at=T0 + day * DAY_US + hour * 3_600_000_000)


def credit_all(violations: list[Violation]) -> bytes:
    packed = vm.EMPTY
    for v in violations:
        packed = vm.credit(packed, v) or packed
    return packed


def ids(packed: bytes) -> list[str]:
    return [v.violation_id for v in vm.recent(packed)]


def test_recent_violations_come_back_newest_first_as_they_were_credited() -> None:
    sent = [violation("b", 1), violation("a", 0), violation("c", 2), violation("d", 1, 5)]
    packed = credit_all(sent)
    assert ids(packed) == [v.violation_id for v in
                           sorted(sent, key=lambda v: (v.occurred_at, v.violation_id),
                                  reverse=True)]
    assert vm.recent(packed)[0] == sent[2], "every field survives packing"


def test_a_violation_credited_again_changes_nothing() -> None:
    packed = credit_all([violation("a", 0), violation("b", 1)])
    assert vm.credit(packed, violation("a", 0)) is None
    assert vm.credited(packed) == {violation("a", 0).violation_id: DAY0,
                                   violation("b", 1).violation_id: DAY0 + 1}


def test_only_the_newest_fifty_are_kept_but_every_id_is_remembered() -> None:
    sent = [violation(f"v{i:03}", i % 20, i) for i in range(vm.RECENT_MAX + 10)]
    packed = credit_all(sent)
    newest = sorted(sent, key=lambda v: (v.occurred_at, v.violation_id), reverse=True)
    assert ids(packed) == [v.violation_id for v in newest[:vm.RECENT_MAX]]
    assert len(vm.credited(packed)) == vm.RECENT_MAX + 10
    oldest = newest[-1]
    assert vm.credit(packed, oldest) is None, "one pushed out of the list is still known"


def test_forgetting_drops_the_days_before_and_keeps_the_bytes_when_none_are_that_old() -> None:
    packed = credit_all([violation("a", 0), violation("b", 3), violation("c", 5)])
    assert vm.forget_before(packed, DAY0) is packed
    later = vm.forget_before(packed, DAY0 + 3)
    assert ids(later) == [violation(i, 0).violation_id for i in ("c", "b")]
    assert set(vm.credited(later)) == {violation(i, 0).violation_id for i in ("b", "c")}
    assert vm.forget_before(packed, DAY0 + 6) == vm.EMPTY


def test_packed_violations_take_under_two_thirds_of_the_bytes_of_the_structs() -> None:
    sent = [violation(f"v{i}", i) for i in range(10)]
    packed = credit_all(sent)
    as_structs = msgspec.msgpack.encode({"violation_days": vm.credited(packed),
                                         "recent": sent})
    assert len(packed) < len(as_structs) * 2 / 3


def test_a_rep_state_stored_before_packing_is_packed_when_decoded() -> None:
    stage = RepStage(default_policy(), {})
    sent = [violation("a", 0), violation("b", 1)]
    state = RepState()
    for v in sent:
        stage.receive(state, Fired("rep-a1", v), Clock(T0 + 2 * DAY_US, T0))
    old_format = msgspec.msgpack.encode({  # before violation_memory.py
        "violation_days": vm.credited(state.violations),
        "recent": list(reversed(sent))})
    decoded = msgspec.msgpack.decode(old_format, type=RepState)
    assert (decoded.violation_days, decoded.recent) == (None, None)
    assert decoded.violations == state.violations
    assert stage.recent_violations(decoded) == list(reversed(sent))
    assert from_micros(T0) == sent[0].occurred_at
