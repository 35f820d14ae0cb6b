"""Memory bounds of the tables' RocksDB databases.

There is one database per table and partition (6 tables x LATITUDE_TOPIC_PARTITIONS).
Faust's defaults (three 64 MiB memtables and a 2 GiB block cache each) let a worker's
memory grow by hundreds of MiB as rep states, tens of KB each, are rewritten.
"""

from __future__ import annotations

from agents.settings import Settings

MIB = 1 << 20


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """Faust store options for every table (the memory store ignores them): two
    memtables of ``rocksdb_write_buffer_mb`` and a block cache of
    ``rocksdb_block_cache_mb`` per database."""
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * MIB,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.rocksdb_block_cache_mb * MIB,
        "block_cache_compressed_size": settings.rocksdb_block_cache_mb * MIB,
    }
