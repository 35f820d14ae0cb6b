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

The changelog record goes straight to the producer (agents/direct_send.py); once it is
acknowledged its offset is recorded in the local store, as Faust's
``Collection._on_changelog_sent`` does.
"""

from __future__ import annotations

import weakref
from functools import partial
from typing import Any

from faust.streams import _current_event
from faust.types import TP, EventT

from agents.direct_send import send


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
    topic = table.changelog_topic.get_topic_name()
    await send(table.app, topic, value, key=key.encode(), partition=partition,
               on_delivered=partial(_persisted, table.data, TP(topic, partition)))


def _persisted(store: Any, tp: TP, metadata: Any) -> None:
    store.set_persisted_offset(tp, metadata.offset)
