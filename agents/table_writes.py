"""Table writes whose changelog record is in the producer before the records that caused
them can be committed.

``table[key] = value`` queues the changelog record in Faust's ProducerBuffer, drained
by a background task. The flush Faust runs before committing offsets gives up on that
buffer when no message left it for 0.1 s, so under load an offset can be committed
while the state written for it still waits there: a SIGKILL then loses the state and
the record is never replayed. Awaiting the send instead puts the record in aiokafka's
accumulator at once, which the same flush drains completely before any commit.

Agents consume in batches (``stream.take_events``) and write each changed key once per
batch, after its events were taken: Faust's "current event", which files a local write
under its partition, is then set here from the event the write is for.
"""

from __future__ import annotations

import weakref
from typing import Any

from faust.streams import _current_event
from faust.types import EventT


async def write(table: Any, key: str, value: bytes, event: EventT) -> None:
    """Store ``value`` under ``key`` in ``table``, filed under ``event``'s partition
    locally and in the changelog, as Faust's own write in-stream would, minus the
    buffer. ``event``: the last event of the batch that changed the key."""
    partition = event.message.partition
    token = _current_event.set(weakref.ref(event))
    try:
        table.data[key] = value
    finally:
        _current_event.reset(token)
    await table.changelog_topic.send(
        key=key,
        value=value,
        partition=partition,
        key_serializer=table.key_serializer,
        value_serializer=table.value_serializer,
        # Records the changelog offset in the local store, as Faust's write does.
        callback=table._on_changelog_sent,
    )
