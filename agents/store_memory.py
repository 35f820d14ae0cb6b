"""``latitude_rocksdb_*``: the native memory the tables' RocksDB databases hold, read
from RocksDB's own properties at scrape time.

Past start-up, most of a worker's resident memory is native: memtables (up to two of
``LATITUDE_ROCKSDB_WRITE_BUFFER_MB`` per database, and there is one database per table
and partition), the index and filter blocks of the files (table readers) and the shared
block cache. Python's own measures (tracemalloc) do not see any of it, so these gauges
say where it went. Reading a property is a call into RocksDB on the event loop's
thread, microseconds per database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MEMTABLES = "rocksdb.cur-size-all-mem-tables"  # active + unflushed immutable memtables
TABLE_READERS = "rocksdb.estimate-table-readers-mem"  # index/filter blocks outside the cache


def open_databases(table: Any) -> list[Any]:
    """The open RocksDB databases of a Faust table: one per partition this worker has
    opened (a private attribute of Faust's RocksDB store; none for the memory store)."""
    return list(getattr(table.data, "_dbs", {}).values())


def int_property(db: Any, name: str) -> int:
    """A RocksDB database's integer property ``name`` (0 when RocksDB has none)."""
    value = db.property_int_value(name)
    return 0 if value is None else int(value)


class StoreMemory(Collector):
    """Memtable and table-reader bytes per table, and the shared block cache's usage."""

    def __init__(self, tables: Callable[[], Iterable[tuple[str, Any]]], cache: Any) -> None:
        self._tables = tables  # (name, table) pairs, read at each scrape
        self._cache = cache  # the block cache every database shares (store_options.py)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        databases = GaugeMetricFamily(
            "latitude_rocksdb_databases",
            "RocksDB databases open for a table (one per partition this worker holds).",
            labels=["table"],
        )
        memtables = GaugeMetricFamily(
            "latitude_rocksdb_memtable_bytes",
            "Bytes in a table's memtables (writes not yet flushed to files), all its "
            "databases summed.",
            labels=["table"],
        )
        readers = GaugeMetricFamily(
            "latitude_rocksdb_table_readers_bytes",
            "Bytes of a table's file indexes and filters held outside the block cache.",
            labels=["table"],
        )
        for name, table in sorted(self._tables(), key=lambda pair: pair[0]):
            dbs = open_databases(table)
            databases.add_metric([name], len(dbs))
            memtables.add_metric([name], sum(int_property(db, MEMTABLES) for db in dbs))
            readers.add_metric([name], sum(int_property(db, TABLE_READERS) for db in dbs))
        yield databases
        yield memtables
        yield readers
        cache = GaugeMetricFamily(
            "latitude_rocksdb_block_cache_bytes",
            "Bytes in the block cache all of this worker's databases share.",
        )
        cache.add_metric([], self._cache.get_usage())
        yield cache
        pinned = GaugeMetricFamily(
            "latitude_rocksdb_block_cache_pinned_bytes",
            "Bytes of the shared block cache pinned by readers (not evictable now).",
        )
        pinned.add_metric([], self._cache.get_pinned_usage())
        yield pinned
