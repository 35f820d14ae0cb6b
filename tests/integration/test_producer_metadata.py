"""aiokafka, as patched by agents/producer_metadata.py, keeps delivering to a topic it
knew from an all-topics metadata fetch after it starts tracking another topic (before
the patch a batch for the first topic never found its leader and flush hung)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.producer_metadata import track_topics_on_send

pytestmark = pytest.mark.integration

FLUSH_DEADLINE_S = 20


def test_a_topic_known_from_an_all_topics_fetch_keeps_its_leader(
    kafka_bootstrap: str, unique_topic_prefix: str
) -> None:
    track_topics_on_send()
    known, added = f"{unique_topic_prefix}-known", f"{unique_topic_prefix}-added"

    async def scenario() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        # Linger keeps the first batch queued while the second send changes the
        # tracked topics, as a busy worker's batches are.
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=500)
        try:
            await admin.create_topics([NewTopic(known, 1, 1)])
            await producer.start()
            # Tracking no topic, the client fetches every topic's metadata.
            await producer.client.force_metadata_update()
            assert producer.client.cluster.partitions_for_topic(known), "topic not listed"
            await admin.create_topics([NewTopic(added, 1, 1)])
            first = await producer.send(known, b"queued before the other topic")
            second = await producer.send(added, b"first record of a topic not known yet")
            await asyncio.wait_for(producer.flush(), FLUSH_DEADLINE_S)
            assert (await first).topic == known
            assert (await second).topic == added
            assert {known, added} <= producer.client._topics
        finally:
            await producer.stop()
            await admin.close()

    asyncio.run(scenario())
