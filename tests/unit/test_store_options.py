"""One RocksDB block cache for every database of a worker (agents/store_options.py), on
real RocksDB databases opened the way Faust opens them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faust.stores.rocksdb import RocksDBOptions

from agents.settings import Settings
from agents.store_memory import MEMTABLES, int_property
from agents.store_options import (
    ARENA_BLOCK_BYTES,
    MIB,
    rocksdb_options,
    share_block_cache,
    write_without_wal,
)

DATABASES = 16
VALUE = bytes(range(256)) * 16  # 4 KiB
KEYS = 3 * MIB // len(VALUE)  # 3 MiB per database


@pytest.fixture
def restore_faust() -> Iterator[None]:
    as_options, open_db = RocksDBOptions.as_options, RocksDBOptions.open
    yield
    RocksDBOptions.as_options = as_options  # type: ignore[method-assign]
    RocksDBOptions.open = open_db  # type: ignore[method-assign]


def wal_bytes(path: Path) -> int:
    return sum(log.stat().st_size for log in path.glob("*.log"))


def write_keys(db: object, count: int) -> None:
    for i in range(count):
        db[f"key-{i:08d}".encode()] = VALUE  # type: ignore[index]


def test_writes_skip_the_write_ahead_log_and_survive_a_clean_close(
    tmp_path: Path, restore_faust: None
) -> None:
    options = RocksDBOptions(**rocksdb_options(Settings()))
    logged = options.open(tmp_path / "logged")
    write_keys(logged, 100)
    assert wal_bytes(tmp_path / "logged") >= 100 * len(VALUE)  # Faust's way: logged
    logged.close()
    write_without_wal()
    db = options.open(tmp_path / "db")
    write_keys(db, 100)
    assert wal_bytes(tmp_path / "db") == 0
    db.close()
    reopened = options.open(tmp_path / "db")
    assert all(reopened[f"key-{i:08d}".encode()] == VALUE for i in range(100))
    reopened.close()


def test_installing_the_write_options_again_wraps_faust_once(restore_faust: None) -> None:
    original = RocksDBOptions.open
    write_without_wal()
    write_without_wal()
    assert RocksDBOptions.open.__wrapped__ is original  # type: ignore[attr-defined]


def test_every_database_reads_through_the_one_bounded_cache(
    tmp_path: Path, restore_faust: None
) -> None:
    settings = Settings.load({"LATITUDE_ROCKSDB_BLOCK_CACHE_MB": "4"})
    cache = share_block_cache(settings)
    dbs = [RocksDBOptions(**rocksdb_options(settings)).open(tmp_path / f"db-{n}")
           for n in range(DATABASES)]
    for db in dbs:
        for i in range(KEYS):
            db[f"key-{i:08d}".encode()] = VALUE
        db.flush()  # to SST files: reads now go through the block cache
    for db in dbs:
        assert all(db[f"key-{i:08d}".encode()] == VALUE for i in range(KEYS))
    # 48 MiB read from 16 databases: with a cache of their own (Faust's way) the
    # shared one would stay empty; shared, it holds at most its 4 MiB.
    assert 2 * MIB <= cache.get_usage() <= 4 * MIB
    for db in dbs:
        db.close()


def test_installing_the_cache_again_wraps_faust_once(restore_faust: None) -> None:
    original = RocksDBOptions.as_options
    share_block_cache(Settings())
    share_block_cache(Settings())
    assert RocksDBOptions.as_options.__wrapped__ is original  # type: ignore[attr-defined]


def test_a_database_with_few_writes_holds_one_small_arena_block(
    tmp_path: Path, restore_faust: None
) -> None:
    options = RocksDBOptions(**rocksdb_options(Settings()))
    faust_default = options.open(tmp_path / "faust")
    write_keys(faust_default, 10)
    # Faust's way: one arena block of an eighth of the write buffer.
    assert int_property(faust_default, MEMTABLES) >= Settings().rocksdb_write_buffer_mb * MIB // 8
    faust_default.close()
    share_block_cache(Settings())
    db = options.open(tmp_path / "db")
    write_keys(db, 10)
    assert int_property(db, MEMTABLES) <= ARENA_BLOCK_BYTES + 64 * 1024
    db.close()
