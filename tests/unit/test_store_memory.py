"""The RocksDB memory gauges read real databases (rocksdict, as Faust opens them)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import rocksdict
from prometheus_client import CollectorRegistry

from agents.store_memory import StoreMemory


def test_memtables_readers_and_the_shared_cache_are_read_from_rocksdb(tmp_path: Path) -> None:
    cache = rocksdict.Cache(8 << 20)
    options = rocksdict.Options()
    table_options = rocksdict.BlockBasedOptions()
    table_options.set_block_cache(cache)
    options.set_block_based_table_factory(table_options)
    dbs = {p: rocksdict.Rdict(str(tmp_path / f"decisions-{p}"), options) for p in (0, 1)}
    for i in range(2000):
        dbs[i % 2][f"deal-{i:05d}".encode()] = bytes(200)
    decisions = SimpleNamespace(data=SimpleNamespace(_dbs=dbs))
    in_memory = SimpleNamespace(data={})  # the memory store has no databases
    registry = CollectorRegistry()
    registry.register(StoreMemory(lambda: [("decisions", decisions), ("roster", in_memory)],
                                  cache))

    def gauge(name: str, table: str | None = None) -> float | None:
        return registry.get_sample_value(name, {} if table is None else {"table": table})

    assert gauge("latitude_rocksdb_databases", "decisions") == 2
    assert gauge("latitude_rocksdb_databases", "roster") == 0
    assert gauge("latitude_rocksdb_memtable_bytes", "decisions") >= 2000 * 200
    assert gauge("latitude_rocksdb_table_readers_bytes", "decisions") == 0
    cached = gauge("latitude_rocksdb_block_cache_bytes")
    assert cached is not None

    for db in dbs.values():
        db.flush()
    assert dbs[0][b"deal-00000"] == bytes(200)  # read from a file, through the cache
    assert gauge("latitude_rocksdb_memtable_bytes", "decisions") < 2000 * 200
    assert gauge("latitude_rocksdb_table_readers_bytes", "decisions") > 0
    assert gauge("latitude_rocksdb_block_cache_bytes") >= cached + 200  # a data block
    assert gauge("latitude_rocksdb_block_cache_pinned_bytes") is not None
    for db in dbs.values():
        db.close()
