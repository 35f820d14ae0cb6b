"""Memory bounds of the tables' RocksDB databases.

There is one database per table and partition (6 tables x LATITUDE_TOPIC_PARTITIONS).
Faust gives each its own block cache (2 GiB by default), so the caches' bound grew with
the number of databases (48 x 4 MiB at 8 partitions). Every database now shares one
block cache of ``LATITUDE_ROCKSDB_BLOCK_CACHE_MB``, a bound for the whole worker,
however many databases there are. Memtables stay per
database (``LATITUDE_ROCKSDB_WRITE_BUFFER_MB``, two each): RocksDB's WriteBufferManager
flushes only the database being written to, and only once its memtable holds half the
bound, so with dozens of small databases it bounded nothing (measured: 16 databases
kept ~2 MiB each under a 4 MiB bound).

Memtables allocate their memory in arena blocks, by default an eighth of the write
buffer, and each database's memtable holds at least one however few its writes: with 4
MiB buffers, the 8 databases of the clock and of the roster table held 4.2 MiB each for
a few KB of data. Blocks are ``ARENA_BLOCK_BYTES`` (128 KiB) instead: at the malloc mmap
threshold (agents/malloc_threshold.py), so each is a mapping of its own, unmapped when its
memtable is flushed. Smaller blocks came from the heap and stayed resident once freed.

Writes skip RocksDB's write-ahead log, as Kafka Streams' stores do: the changelog is the
log. A worker that did not stop cleanly rebuilds its tables from the changelogs
(agents/local_state.py), and a clean close flushes the memtables. Without the log a
database only ever loses its newest writes together with the changelog offset written
after them (one database per table partition), so recovery replays them. The log cost
a write() per put: 6.1-6.8 µs a put with it, 2.7-2.8 without (1.1 KB values).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import rocksdict
from faust.stores.rocksdb import RocksDBOptions

from agents.malloc_threshold import THRESHOLD_KB
from agents.settings import Settings

MIB = 1 << 20
ARENA_BLOCK_BYTES = THRESHOLD_KB * 1024  # each block a mapping of its own (see above)


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """Faust store options for every table (the memory store ignores them): two
    memtables of ``rocksdb_write_buffer_mb`` per database, each flushed when full, and
    a block cache of ``rocksdb_block_cache_mb``: shared once ``share_block_cache`` is in
    place, and a bound per database (not Faust's 2 GiB) with any other driver."""
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * MIB,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.rocksdb_block_cache_mb * MIB,
    }


def share_block_cache(settings: Settings) -> Any:
    """Open every RocksDB database of this process with one block cache of
    ``rocksdb_block_cache_mb`` and memtable arena blocks of ``ARENA_BLOCK_BYTES``
    (Faust's rocksdict driver); returns the cache."""
    cache = rocksdict.Cache(settings.rocksdb_block_cache_mb * MIB)
    as_options: Callable[[RocksDBOptions], Any] = getattr(
        RocksDBOptions.as_options, "__wrapped__", RocksDBOptions.as_options)

    def shared_as_options(self: RocksDBOptions) -> Any:
        options = as_options(self)
        if self.use_rocksdict:
            # Faust's table options, with the shared cache instead of one per database.
            table = rocksdict.BlockBasedOptions()
            table.set_bloom_filter(self.bloom_filter_size, block_based=True)
            table.set_block_cache(cache)
            table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
            options.set_block_based_table_factory(table)
            options.set_arena_block_size(ARENA_BLOCK_BYTES)
        return options

    shared_as_options.__wrapped__ = as_options  # type: ignore[attr-defined]
    RocksDBOptions.as_options = shared_as_options  # type: ignore[method-assign]
    return cache


def write_without_wal() -> None:
    """Open every RocksDB database of this process (Faust's rocksdict driver) with its
    writes skipping the write-ahead log (see the module docstring)."""
    open_db: Callable[..., Any] = getattr(
        RocksDBOptions.open, "__wrapped__", RocksDBOptions.open)

    def open_without_wal(self: RocksDBOptions, path: Path, **kwargs: Any) -> Any:
        db = open_db(self, path, **kwargs)
        if self.use_rocksdict:
            writes = rocksdict.WriteOptions()
            writes.disable_wal = True
            db.set_write_options(writes)
        return db

    open_without_wal.__wrapped__ = open_db  # type: ignore[attr-defined]
    RocksDBOptions.open = open_without_wal  # type: ignore[method-assign]
