"""Table writes whose changelog record is in the producer before the record that caused
them can be committed.

``table[key] = value`` queues the changelog record in Faust's ProducerBuffer, drained
by a background task. The flush Faust runs before committing offsets gives up on that
buffer when no message left it for 0.1 s, so under load an offset can be committed
while the state written for it still waits there: a SIGKILL then loses the state and
the record is never replayed. Awaiting the send instead puts the record in aiokafka's
accumulator at once, which the same flush drains completely before any commit.
"""

from __future__ import annotations

from typing import Any


async def write(table: Any, key: str, value: bytes, partition: int) -> None:
    """Store ``value`` under ``key`` in ``table`` (in-stream: the local store files it
    under the current event's partition) and send its changelog record to
    ``partition``, as Faust's own write would, minus the buffer."""
    table.data[key] = value
    await table.changelog_topic.send(
        key=key,
        value=value,
        partition=partition,
        key_serializer=table.key_serializer,
        value_serializer=table.value_serializer,
        # Records the changelog offset in the local store, as Faust's write does.
        callback=table._on_changelog_sent,
    )
