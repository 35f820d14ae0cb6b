"""One read of a key from a Faust table's store.

A Faust table's ``get`` (and ``table[key]``) asks its store whether it holds the key and
then for the value: in the RocksDB store each is a read of the database, the first of
them fetching the whole value too. Outside an event, as in a stage's batch, each also
searches the databases of every partition (a bloom filter check each) unless the key is
among the few thousand the store indexes. Stages read every key they miss in their
caches, and know its partition, so they read that partition's database once.
"""

from __future__ import annotations

from typing import Any


def stored_value(table: Any, key: str, partition: int | None = None) -> bytes | None:
    """The value stored under ``key`` in ``table`` (None: not stored), read once, from
    ``partition``'s database when given (RocksDB store; the one a write in-stream for a
    message of that partition used)."""
    store = table.data
    value: bytes | None
    if partition is not None and hasattr(store, "_db_for_partition"):
        # Private API (faust/stores/rocksdb.py), as KeyedState._stored_raw uses it.
        value = store._db_for_partition(partition).get(key.encode())
    else:
        value = store.get(key)
    return value
