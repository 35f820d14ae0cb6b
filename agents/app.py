"""The Faust application: settings, topics, the ingest agent and the /metrics page."""

from __future__ import annotations

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from prometheus_client import CollectorRegistry

from agents import topics
from agents.dead_letters import dead_letter_headers
from agents.kafka_config import faust_broker_credentials
from agents.metrics import IngestCollector, IngestCounters
from agents.settings import Settings
from schemas.decode import InvalidEvent, decode


class Latitude:
    """A configured Faust app with Latitude's topics, agents and metrics attached."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.counters = IngestCounters()
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.kafka_bootstrap}",
            broker_credentials=faust_broker_credentials(settings),
            store="rocksdb://" if settings.store == "rocksdb" else "memory://",
            datadir=settings.data_dir,
            web_bind=settings.web_host,
            web_host=settings.web_host,
            web_port=settings.web_port,
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            producer_max_request_size=topics.MAX_RECORD_BYTES,
            autodiscover=False,
        )
        setup_prometheus_sensors(self.app, registry=self.registry, name_prefix="latitude_faust")
        self.registry.register(IngestCollector(self.counters))
        self._prefix_len = len(settings.topic_prefix)
        self.inputs = self.app.topic(
            *(settings.topic(name) for name in topics.INPUT_TOPICS),
            key_serializer="raw",
            value_serializer="raw",
        )
        self.dead_letters = self.app.topic(
            settings.topic(topics.DEAD_LETTERS), key_serializer="raw", value_serializer="raw"
        )
        self.app.agent(self.inputs, name="ingest")(self.ingest)

    async def ingest(self, stream: faust.StreamT) -> None:
        """Decode every input record once; dead-letter what is invalid, count the rest."""
        async for event in stream.events():
            message = event.message
            family = message.topic[self._prefix_len :]
            try:
                decoded = decode(message.value, family, max_bytes=self.settings.max_event_bytes)
            except InvalidEvent as invalid:
                await self.dead_letter(message, invalid.reason, invalid.detail, family)
                continue
            self.counters.accepted(family, decoded.__struct_config__.tag)

    async def dead_letter(
        self, message: faust.types.Message, reason: str, detail: str, family: str
    ) -> None:
        """Send the record's original bytes to the dead-letter topic and count it."""
        self.counters.rejected(family, reason)
        await self.dead_letters.send(
            key=message.key,
            value=message.value,
            headers=dead_letter_headers(
                reason=reason,
                detail=detail,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
            ),
        )
