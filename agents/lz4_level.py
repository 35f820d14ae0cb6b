"""lz4 batches compressed by LZ4's fast compressor instead of LZ4 HC.

aiokafka compresses every lz4 record batch at level 9, the high-compression variant,
and has no setting for it (``aiokafka.codec.lz4_encode``, called by the record batch
builders). On the worker's batches (changelog records of whole states, envelopes,
snapshots) HC ran at tens of MB/s: ``lz4_encode`` took 8.6 % of the worker's event loop
at 150 events/s of paced input, and 2.6-6.5 % in backfills. Level 1, the fast
compressor, is 5-8x faster on such batches for a ratio about 10 % lower (4.96 against
5.44 on a batch of rep states), and any lz4 reader decodes either.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from aiokafka import codec

FAST = 1
# The batch builders, pure Python and compiled: each imported lz4_encode by name.
_BUILDERS = ("aiokafka.record.default_records", "aiokafka.record._crecords.default_records",
             "aiokafka.record.legacy_records", "aiokafka.record._crecords.legacy_records")


def lz4_fast(payload: bytes | bytearray | memoryview, level: int = FAST) -> bytes:
    """``codec.lz4_encode`` at the fast level, whatever level the caller asks for."""
    return codec.lz4_encode(payload, level=FAST)


def _builders() -> list[ModuleType]:
    found = []
    for name in _BUILDERS:
        try:
            module = importlib.import_module(name)
        except ImportError:  # aiokafka installed without its compiled extensions
            continue
        if hasattr(module, "lz4_encode"):
            found.append(module)
    return found


def compress_lz4_fast() -> None:
    """Make every aiokafka record batch builder compress lz4 at the fast level
    (idempotent; the producer's ``compression_type`` still chooses the codec)."""
    for module in _builders():
        module.lz4_encode = lz4_fast  # type: ignore[attr-defined]
