"""The compact due-time index (agents/due_index.py) against a plain list of entries."""

from __future__ import annotations

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from agents.due_index import DueTimes

KEYS = st.sampled_from(["d1", "d2", "deal-é", "x" * 300, ""])
STEPS = st.lists(st.one_of(st.tuples(st.just("add"), st.integers(-50, 200), KEYS),
                           st.tuples(st.just("pop"), st.integers(-60, 210), st.just(""))),
                 max_size=60)


@given(steps=STEPS)
def test_pop_returns_exactly_the_keys_with_an_entry_due_by_then(steps) -> None:
    times = DueTimes(bucket_us=10)
    model: list[tuple[int, str]] = []
    for op, at, key in steps:
        if op == "add":
            times.add(at, key)
            model.append((at, key))
        else:  # any order of times: a new owner's watermark may start behind
            due = {k for d, k in model if d <= at}
            model = [(d, k) for d, k in model if d > at]
            assert times.pop(at) == due
    assert times.pop(1 << 62) == {k for _, k in model}
    assert times.pop(1 << 62) == set()


def test_keys_due_beyond_the_current_hour_are_packed() -> None:
    day_us = 86_400_000_000
    keys = [f"open-deal-{n:08d}" for n in range(50_000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    times = DueTimes()
    for n, key in enumerate(keys):  # stall clocks running out over the next 30 days
        times.add(30 * day_us + n * (30 * day_us // len(keys)), key)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert held / len(keys) < 50  # a heap of (due, key) tuples took about 175 B a key
    assert times.pop(30 * day_us) == {keys[0]}
    assert len(times.pop(31 * day_us)) == len(keys) // 30
