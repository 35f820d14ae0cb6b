"""One read of a key from a Faust table's store.

A Faust table's ``get`` (and ``table[key]``) asks its store whether it holds the key and
then for the value: in the RocksDB store each is a read of the database, the first of
them fetching the whole value too. Stages read every key they miss in their caches,
so they ask the store for the value once.
"""

from __future__ import annotations

from typing import Any


def stored_value(table: Any, key: str) -> bytes | None:
    """The value stored under ``key`` in ``table`` (None: not stored), read once."""
    value: bytes | None = table.data.get(key)
    return value
