"""The Faust application: settings, topics, tables, agents and the /metrics page."""

from __future__ import annotations

import faust
from prometheus_client import CollectorRegistry, ProcessCollector

from agents import faust_sensors, topics
from agents.consumer_lag import REFRESH_SECONDS, ConsumerLag
from agents.dead_letters import dead_letter_headers
from agents.fetch_wait import fetch_wait
from agents.flow_control import keep_queued_records_on_resume
from agents.kafka_config import faust_broker_credentials
from agents.kpi_metrics import KpiCollector
from agents.lz4_level import compress_lz4_fast
from agents.memory_limit import MemoryLimit
from agents.metrics import IngestCollector, IngestCounters
from agents.pipeline import Pipeline
from agents.producer_metadata import track_topics_on_send
from agents.recovery_order import seek_before_resuming
from agents.settings import Settings
from agents.snapshot_latency import SnapshotLatency
from agents.stale_acks import count_current_generation_acks_only
from agents.store_memory import StoreMemory
from agents.store_options import share_block_cache, write_without_wal
from agents.web import register_views
from schemas.decode import InvalidEvent, decode
from schemas.errors import Reason
from streams.policy import load_policy
from streams.policy_model import Policy, default_policy

PRODUCER_LINGER_SECONDS = 0.005
PRODUCER_BATCH_BYTES = 1 << 20
LATE_DETAIL = "occurred_at is older than its partition's stream time minus the lateness bound"


class Latitude:
    """A configured Faust app with Latitude's topics, agents and metrics attached."""

    def __init__(self, settings: Settings, policy: Policy | None = None) -> None:
        self.settings = settings
        if policy is None:
            policy = load_policy(settings.policy_file) if settings.policy_file else default_policy()
        self.registry = CollectorRegistry()
        # process_resident_memory_bytes, process_cpu_seconds_total, open files: what an
        # operator reads first, and the memory figures the benchmarks quote.
        ProcessCollector(registry=self.registry)
        self.registry.register(MemoryLimit(settings.memory_limit_mb))
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
            table_standby_replicas=settings.standby_replicas,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            producer_max_request_size=topics.MAX_RECORD_BYTES,
            # Every record fans out into several small stage messages: a few ms of
            # linger sends them in batches instead of one request (and syscall) each.
            producer_linger=PRODUCER_LINGER_SECONDS,
            # Changelog records of rep state run to tens of KB: with the 16 KB default
            # each would travel in a request of its own.
            producer_max_batch_size=PRODUCER_BATCH_BYTES,
            producer_compression_type=(None if settings.producer_compression == "none"
                                       else settings.producer_compression),
            autodiscover=False,
            consumer_max_fetch_size=settings.consumer_max_fetch_kb * 1024,
        )
        keep_queued_records_on_resume(self.app.flow_control)
        track_topics_on_send()
        seek_before_resuming()
        count_current_generation_acks_only()
        compress_lz4_fast()
        if settings.fetch_wait_seconds:
            fetch_wait(self.app, settings.fetch_wait_seconds)
        if settings.store == "rocksdb":
            block_cache = share_block_cache(settings)
            write_without_wal()
            self.registry.register(StoreMemory(lambda: self.app.tables.items(), block_cache))
        faust_sensors.install(self.app, self.registry, "latitude_faust")
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
        latency = SnapshotLatency(self.registry)
        self.pipeline = Pipeline(self.app, settings, policy, self.counters, latency)
        self.app.agent(self.inputs, name="ingest")(self.ingest)
        register_views(self.app, self.pipeline)
        self.registry.register(KpiCollector(self.pipeline, settings.per_rep_metrics))
        self.consumer_lag = ConsumerLag({settings.topic(n): n for n in topics.INPUT_TOPICS})
        self.registry.register(self.consumer_lag)
        self.app.timer(REFRESH_SECONDS, name="consumer-lag")(self.refresh_consumer_lag)

    async def ingest(self, stream: faust.StreamT) -> None:
        """Decode every input record once; dead-letter what is invalid or late; route
        the rest to the stage that owns its key."""
        await self.pipeline.consume(stream, self._ingest_one, self.pipeline.flush_ingest)

    async def _ingest_one(self, event: faust.EventT) -> None:
        message = event.message
        family = message.topic[self._prefix_len :]
        try:
            decoded = decode(message.value, family, max_bytes=self.settings.max_event_bytes)
        except InvalidEvent as invalid:
            await self.dead_letter(message, invalid.reason, invalid.detail, family)
            return
        highwater = self.app.consumer.highwater(message.tp)
        behind = highwater is not None and message.offset + 1 < highwater
        if not await self.pipeline.route(decoded, event, behind):
            await self.dead_letter(message, Reason.LATE, LATE_DETAIL, family, "TASK_PUT")
            return
        self.counters.accepted(family, decoded.__struct_config__.tag)

    async def refresh_consumer_lag(self) -> None:
        """Cache the input partitions' lag for /metrics (which must not await Kafka)."""
        await self.consumer_lag.refresh(self.app.consumer)

    async def dead_letter(
        self,
        message: faust.types.Message,
        reason: str,
        detail: str,
        family: str,
        stage: str = "VALUE_CONVERTER",
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
                stage=stage,
            ),
        )
