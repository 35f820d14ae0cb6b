"""Every topic the producer sends to stays in its metadata requests.

While aiokafka's client tracks no topic, its metadata requests ask for all topics (Faust
triggers such a fetch while it creates the topics at start-up), and a send to a topic
it knows from that returns without tracking the topic. The first send to a topic it does
not know makes it track that topic alone, and the next metadata response then drops
every other topic: a batch already queued for one of them never finds its leader, the
producer asks for metadata in a tight loop, and a flush (Faust runs one before every
commit and in every rebalance) waits until the batch expires, 20 minutes by default. A
worker stalled that way after taking over partitions in the hand-over test, and at
start-up in others. Tracking each topic on its first send keeps them all requested.
"""

from __future__ import annotations

from typing import Any

from aiokafka.client import AIOKafkaClient

_TRACKS = "_latitude_tracks_topics"


def track_topics_on_send() -> None:
    """Make every aiokafka client track each topic it sends to (idempotent)."""
    original = AIOKafkaClient._wait_on_metadata
    if getattr(original, _TRACKS, False):
        return

    async def wait_on_metadata(self: AIOKafkaClient, topic: str) -> Any:
        if topic not in self._topics:
            self.add_topic(topic)  # one metadata request; later ones include the topic
        return await original(self, topic)

    setattr(wait_on_metadata, _TRACKS, True)
    AIOKafkaClient._wait_on_metadata = wait_on_metadata  # type: ignore[method-assign]
