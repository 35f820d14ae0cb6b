"""aiokafka's record batch builders compress lz4 at the fast level (agents/lz4_level.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import codec
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords

from agents.lz4_level import FAST, compress_lz4_fast

LZ4 = 3  # the lz4 codec id in a record batch's attributes


def build(values: list[bytes]) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=LZ4, is_transactional=0, producer_id=-1,
        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for offset, value in enumerate(values):
        builder.append(offset, timestamp=None, key=b"k", value=value, headers=[])
    return bytes(builder.build())


def test_the_batch_builder_aiokafka_uses_compresses_lz4_at_the_fast_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    levels: list[int] = []
    encode = codec.lz4_encode

    def spy(payload: Any, level: int = 9) -> bytes:
        levels.append(level)
        return encode(payload, level=level)

    monkeypatch.setattr(codec, "lz4_encode", spy)
    compress_lz4_fast()
    compress_lz4_fast()  # idempotent
    values = [b"state %d " % n * 40 for n in range(30)]
    batch = MemoryRecords(build(values)).next_batch()
    assert levels == [FAST] == [1]
    assert [record.value for record in batch] == values
