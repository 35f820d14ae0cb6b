"""A rep's recent violations kept packed (streams/violation_memory.py): newest first,
at most 50, each as it was published, forgotten by day, and the rep states stored before
they were packed read back the same."""

from __future__ import annotations

import msgspec

from schemas.outputs import Violation
from streams import guardrails as g
from streams import violation_memory as vm
from streams.clock import DAY_US
from streams.policy_model import default_policy
from streams.stages import Clock, Fired, RepStage, RepState
from tests.unit.test_rep_counters import T0

DAY0 = T0 // DAY_US


def violation(identity: str, day: int, hour: int = 0) -> Violation:
    return g.violation("discount_over_authority", identity, rep="rep-a1", team="team-a",
                       deal=f"deal-{identity}", account="acct-1",
                       values={"discount_pct": 25.0, "authority": "ae"},
                       event_id=f"e-{identity}", at=T0 + day * DAY_US + hour * 3_600_000_000)


def kept(violations: list[Violation]) -> list[bytes]:
    recent: list[bytes] = []
    for v in violations:
        vm.keep(recent, v)
    return recent


def newest_first(violations: list[Violation]) -> list[Violation]:
    return sorted(violations, key=lambda v: (v.occurred_at, v.violation_id), reverse=True)


def test_recent_violations_come_back_newest_first_as_they_were_published() -> None:
    sent = [violation("b", 1), violation("a", 0), violation("c", 2), violation("d", 1, 5)]
    assert [vm.unpack(k) for k in kept(sent)] == newest_first(sent)


def test_only_the_newest_fifty_are_kept_in_whatever_order_they_arrive() -> None:
    sent = [violation(f"v{i:03}", (i * 7) % 20, i % 24) for i in range(vm.RECENT_MAX + 10)]
    assert [vm.unpack(k) for k in kept(sent)] == newest_first(sent)[:vm.RECENT_MAX]


def test_the_kept_violations_of_a_day_or_later_are_kept_when_forgetting() -> None:
    recent = kept([violation("a", 0), violation("b", 3), violation("c", 5)])
    assert [vm.unpack(k).violation_id for k in vm.since(recent, DAY0 + 3)] == [
        violation(i, 0).violation_id for i in ("c", "b")]
    assert vm.since(recent, DAY0 + 6) == []


def test_kept_violations_take_under_two_thirds_of_the_bytes_of_the_structs() -> None:
    sent = newest_first([violation(f"v{i}", i) for i in range(10)])
    encode = msgspec.msgpack.encode
    assert len(encode(kept(sent))) < len(encode(sent)) * 2 / 3


def test_a_rep_state_stored_before_packing_is_packed_when_decoded() -> None:
    stage = RepStage(default_policy(), {})
    sent = [violation("a", 0), violation("b", 1)]
    state = RepState()
    for v in sent:
        stage.receive(state, Fired("rep-a1", v), Clock(T0 + 2 * DAY_US, T0))
    old_format = msgspec.msgpack.encode({  # before violation_memory.py
        "violation_days": state.violation_days, "recent": newest_first(sent)})
    decoded = msgspec.msgpack.decode(old_format, type=RepState)
    assert decoded.recent is None
    assert decoded.recent_kept == state.recent_kept
    assert stage.recent_violations(decoded) == newest_first(sent)
    again = stage.receive(decoded, Fired("rep-a1", sent[0]), Clock(T0 + 2 * DAY_US, T0))
    assert stage.recent_violations(again) == newest_first(sent), "credited once"
