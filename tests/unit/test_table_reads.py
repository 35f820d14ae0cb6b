"""A stage's read of a key it has not cached is one read of Faust's RocksDB store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust

from agents.table_reads import stored_value


class CountedReads:
    """A RocksDB database (rocksdict, as Faust opens it) that counts its reads."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.reads: list[str] = []

    def get(self, key: bytes) -> Any:
        self.reads.append("get")
        return self.db.get(key)

    def key_may_exist(self, key: bytes) -> Any:
        self.reads.append("key_may_exist")
        return self.db.key_may_exist(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_a_stored_value_is_read_once_where_the_tables_get_reads_twice(tmp_path: Path) -> None:
    app = faust.App("reads", broker="kafka://localhost:1", store="rocksdb://",
                    datadir=str(tmp_path))
    table = app.Table("states", partitions=1, key_type=bytes, value_type=bytes)
    db = CountedReads(table.data._db_for_partition(0))
    table.data._dbs[0] = db
    db.db[b"deal-1"] = b"state"

    assert table.get("deal-1") == b"state"
    assert db.reads.count("get") == 2, "Faust's get: the key's presence, then its value"
    db.reads.clear()
    assert stored_value(table, "deal-1") == b"state"
    assert db.reads.count("get") == 1
    db.reads.clear()
    assert stored_value(table, "deal-2") is None
    assert db.reads.count("get") == 0, "the bloom filter answers for a key never stored"


def test_a_key_of_a_known_partition_is_read_from_that_partitions_database_alone(
        tmp_path: Path) -> None:
    app = faust.App("reads", broker="kafka://localhost:1", store="rocksdb://",
                    datadir=str(tmp_path))
    table = app.Table("states", partitions=3, key_type=bytes, value_type=bytes)
    dbs = [CountedReads(table.data._db_for_partition(p)) for p in range(3)]
    table.data._dbs.update(enumerate(dbs))
    dbs[2].db[b"deal-1"] = b"state"

    assert table.get("deal-1") == b"state"
    assert sum(len(db.reads) for db in dbs) > 3, "Faust searches the databases in turn"
    for db in dbs:
        db.reads.clear()
    assert stored_value(table, "deal-1", 2) == b"state"
    assert stored_value(table, "deal-2", 2) is None
    assert [db.reads for db in dbs] == [[], [], ["get", "get"]]
