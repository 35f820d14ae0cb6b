"""Acknowledgements count toward commits only for records of the current generation
(agents/stale_acks.py): a hand-over run lost offsets 623-629 of a kept partition,
committed over by acknowledgements of copies fetched before the rebalance."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer

from agents.stale_acks import count_current_generation_acks_only, forget_acks

TP = "crm.discounts:7"


def consumer(generation: int, committed: int) -> Any:
    """The state Faust's Consumer.ack and _new_offset use, committed at ``committed``."""
    return SimpleNamespace(
        app=SimpleNamespace(consumer_generation_id=generation,
                            topics=SimpleNamespace(acks_enabled_for=lambda topic: True)),
        _committed_offset=defaultdict(lambda: None, {TP: committed}),
        _acked=defaultdict(list), _acked_index=defaultdict(set), _gap=defaultdict(list),
        _unacked_messages=set(), _n_acked=0, _waiting_for_ack=None,
    )


@dataclass(eq=False)  # hashed by identity, as Faust's messages are
class Record:
    offset: int
    generation_id: int
    tp: str = TP
    topic: str = "crm.discounts"
    acked: bool = False


def message(offset: int, generation: int) -> Any:
    return Record(offset, generation)


def next_commit(state: Any) -> int | None:
    return Consumer._new_offset(state, TP)  # type: ignore[arg-type]


def test_a_record_of_the_current_generation_counts() -> None:
    count_current_generation_acks_only()
    count_current_generation_acks_only()  # idempotent: wrapped once
    state = consumer(generation=3, committed=623)
    assert Consumer.ack(state, message(623, generation=3)) is True  # type: ignore[arg-type]
    assert next_commit(state) == 624


def test_a_record_fetched_in_an_earlier_generation_does_not_count() -> None:
    count_current_generation_acks_only()
    state = consumer(generation=3, committed=623)
    stale = [message(offset, generation=2) for offset in range(623, 630)]
    for record in stale:
        assert Consumer.ack(state, record) is False  # type: ignore[arg-type]
    assert all(record.acked for record in stale), "not waited for"
    assert next_commit(state) is None, "nothing processed since the commit"
    Consumer.ack(state, message(623, generation=3))  # type: ignore[arg-type]
    assert next_commit(state) == 624, "only the record read again and processed"


def test_acknowledgements_before_the_seek_are_dropped() -> None:
    state = consumer(generation=3, committed=623)
    # Made between the revoke and the assignment, while the generation was still 2.
    state._acked[TP] = list(range(623, 630))
    state._acked_index[TP] = set(range(623, 630))
    forget_acks(state, [TP])
    assert next_commit(state) is None
