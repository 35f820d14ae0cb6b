"""The partition a worker files a key under is the producer's (agents.pipeline), cached
or not."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from agents.pipeline import partition_of_key


@given(st.binary(min_size=1, max_size=64), st.integers(1, 64))
def test_a_key_goes_where_the_producers_partitioner_sends_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert partition_of_key(key, count) == expected
    assert partition_of_key(key, count) == expected  # remembered: the same again
