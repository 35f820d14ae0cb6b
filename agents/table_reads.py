"""One read of a key from a Faust table's store.

A Faust table's ``get`` (and ``table[key]``) asks its store whether it holds the key and
then for the value: in the RocksDB store each is a read of the database, the first of
them fetching the whole value too. Outside an event, as in a stage's batch, each also
searches the databases of every partition (a bloom filter check each) unless the key is
among the few thousand the store indexes. Stages read every key they miss in their
caches, and know its partition, so they read that partition's database once.

Both reads by partition use the RocksDB store's private API (faust/stores/rocksdb.py),
checked by the integration tests; the memory store has no partitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def stored_value(table: Any, key: str, partition: int | None = None) -> bytes | None:
    """The value stored under ``key`` in ``table`` (None: not stored), read once, from
    ``partition``'s database when given (RocksDB store; the one a write in-stream for a
    message of that partition used)."""
    store = table.data
    value: bytes | None
    if partition is not None and _partitioned(store):
        value = store._db_for_partition(partition).get(key.encode())
    else:
        value = store.get(key)
    return value


def stored_items(table: Any, partition: int) -> Iterable[tuple[bytes | str, bytes]]:
    """The keys and values in ``partition``'s database (RocksDB store: those written
    in-stream for messages of that partition), or every item of a memory store. The
    RocksDB store hands keys back as bytes, the memory store as str."""
    store = table.data
    if _partitioned(store):
        items: Iterable[tuple[bytes | str, bytes]] = store._visible_items(
            store._db_for_partition(partition))
    else:
        items = store.items()
    return items


def _partitioned(store: Any) -> bool:
    # Faust's RocksDB store keeps one database per partition.
    return hasattr(store, "_db_for_partition")
