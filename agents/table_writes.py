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

The changelog record goes straight to the producer, not through Faust's ``Topic.send``:
its future message, serializer dispatch and publish callback were about 7 % of the
event loop at paced rates, for a record already in bytes. What they did for a
changelog record is kept: the sensors hear of the send, and once it is acknowledged
its offset is recorded in the local store (``Collection._on_changelog_sent``).
"""

from __future__ import annotations

import logging
import weakref
from asyncio import Future
from functools import partial
from typing import Any

from faust.streams import _current_event
from faust.types import TP, EventT

log = logging.getLogger(__name__)


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
    app = table.app
    producer = app.producer
    topic = table.changelog_topic.get_topic_name()
    encoded_key = key.encode()
    state = app.sensors.on_send_initiated(producer, topic, message=None,
                                          keysize=len(encoded_key), valsize=len(value))
    sent = await producer.send(topic, encoded_key, value, partition=partition,
                               timestamp=None, headers=None)
    sent.add_done_callback(partial(_on_changelog_sent, table, TP(topic, partition), state))


def _on_changelog_sent(table: Any, tp: TP, state: Any, sent: Future[Any]) -> None:
    app = table.app
    if sent.cancelled():  # the producer is stopping: nothing was acknowledged
        return
    error = sent.exception()
    if error is not None:
        log.error("changelog record for %s not delivered: %r", tp, error)
        app.sensors.on_send_error(app.producer, error, state)
        return
    metadata = sent.result()
    app.sensors.on_send_completed(app.producer, state, metadata)
    table.data.set_persisted_offset(tp, metadata.offset)
