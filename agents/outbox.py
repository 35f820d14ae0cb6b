"""What a batch sends, held until the batch ends and then sent in order: for an internal
topic, one envelope record per partition instead of one record per message.

Faust's cost per record, sent and received, set the worker's pace: each input event
fanned out into several stage messages, each a record of its own. An envelope carries a
batch's messages for one partition; each message keeps its key, clock and origin, and
the receiver processes the envelope's messages in order (agents/pipeline.py). Messages
of one source reach a partition in the order they were added, which is what receivers
rely on to skip what they applied before (agents/keyed_state.py, ``Resends``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import msgspec

from agents.direct_send import DirectTopic
from agents.keyed_state import Outgoing
from agents.routing import Envelope, encoder

# An envelope is cut after this many bytes of messages or this many messages: well
# under the topics' record size limit, and a receiver's batch stays short.
ENVELOPE_BYTES = 256 << 10
ENVELOPE_ITEMS = 2000


class Outbox:
    """Messages (topic, key, value) added while a batch runs, sent by :meth:`flush`:
    those for ``internal`` topics in envelopes per partition (``partition_of``), the
    others as records of their own."""

    def __init__(
        self,
        topics: Mapping[str, DirectTopic],
        internal: set[str],
        partition_of: Callable[[str, bytes], int],
    ) -> None:
        self._topics = topics
        self._internal = internal
        self._partition_of = partition_of
        self._pending: list[Outgoing] = []

    def add(self, messages: Iterable[Outgoing]) -> None:
        self._pending.extend(messages)

    async def flush(self) -> None:
        """Send every message added since the last flush."""
        pending, self._pending = self._pending, []
        envelopes: dict[tuple[str, int], list[list[tuple[str, msgspec.Raw]]]] = {}
        sizes: dict[tuple[str, int], int] = {}
        for topic, key, value in pending:
            if topic not in self._internal:
                await self._topics[topic].send(key=key, value=value)
                continue
            where = (topic, self._partition_of(topic, key))
            batches = envelopes.setdefault(where, [[]])
            size = sizes.get(where, 0) + len(value)
            if len(batches[-1]) >= ENVELOPE_ITEMS or (batches[-1] and size > ENVELOPE_BYTES):
                batches.append([])
                size = len(value)
            sizes[where] = size
            batches[-1].append((key.decode(), msgspec.Raw(value)))
        for (topic, partition), batches in envelopes.items():
            for items in batches:
                await self._topics[topic].send(
                    value=encoder.encode(Envelope(items)), partition=partition
                )
