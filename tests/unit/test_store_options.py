"""One RocksDB block cache for every database of a worker (agents/store_options.py), on
real RocksDB databases opened the way Faust opens them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faust.stores.rocksdb import RocksDBOptions

from agents.settings import Settings
from agents.store_options import MIB, rocksdb_options, share_block_cache

DATABASES = 16
VALUE = bytes(range(256)) * 16  # 4 KiB
KEYS = 3 * MIB // len(VALUE)  # 3 MiB per database


@pytest.fixture
def restore_faust() -> Iterator[None]:
    original = RocksDBOptions.as_options
    yield
    RocksDBOptions.as_options = original  # type: ignore[method-assign]


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
