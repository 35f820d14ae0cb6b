"""Every topic Latitude reads or writes, each named once, and their creation at start."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from agents.kafka_config import kafka_python_security
from agents.settings import Settings
from schemas.events import TOPIC_TYPES

log = logging.getLogger(__name__)

INPUT_TOPICS: tuple[str, ...] = tuple(TOPIC_TYPES)
KPI_SNAPSHOTS = "latitude.kpi-snapshots"
VIOLATIONS = "latitude.violations"
ALERTS = "latitude.alerts"
DEAD_LETTERS = "latitude.dead-letters"

# The largest record any Latitude topic takes; producers are sized to match.
MAX_RECORD_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    compacted: bool = False
    retention_ms: int | None = None
    max_message_bytes: int | None = None

    def configs(self) -> dict[str, str]:
        """Broker-side topic configuration."""
        configs: dict[str, str] = {}
        if self.compacted:
            configs["cleanup.policy"] = "compact"
        elif self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        if self.max_message_bytes is not None:
            configs["max.message.bytes"] = str(self.max_message_bytes)
        return configs


INTERNAL_STAGES = ("by-account", "by-deal", "by-rep", "by-team")
TABLES = ("roster", "clock", "accounts", "decisions", "reps", "teams")


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's changelog topic of ``table`` (Faust names it from the app id alone)."""
    return f"{settings.app_id}-{table}-changelog"


def internal_topic(settings: Settings, stage: str) -> str:
    """The repartition topic feeding ``stage``, private to this app id."""
    return settings.topic(f"{settings.app_id}-{stage}")


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """All topics with their full (prefixed) names and configuration."""
    retention = settings.output_retention_ms
    specs = [TopicSpec(settings.topic(name)) for name in INPUT_TOPICS]
    specs[INPUT_TOPICS.index("crm.reps")] = TopicSpec(settings.topic("crm.reps"), compacted=True)
    specs += [
        TopicSpec(settings.topic(KPI_SNAPSHOTS), compacted=True),
        TopicSpec(settings.topic(VIOLATIONS), retention_ms=retention),
        TopicSpec(settings.topic(ALERTS), retention_ms=retention),
        # A dead letter carries the rejected record whole, oversized ones included.
        TopicSpec(
            settings.topic(DEAD_LETTERS),
            retention_ms=retention,
            max_message_bytes=MAX_RECORD_BYTES,
        ),
    ]
    specs += [TopicSpec(internal_topic(settings, stage)) for stage in INTERNAL_STAGES]
    # Created here rather than left to Faust: a worker that starts while Faust is still
    # creating them sees a changelog without partitions and its agent stops for good.
    specs += [
        TopicSpec(changelog_topic(settings, table), compacted=True,
                  max_message_bytes=MAX_RECORD_BYTES)
        for table in TABLES
    ]
    return specs


def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; returns the names created. Existing ones are kept as is."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.app_id}-admin",
        **kafka_python_security(settings),
    )
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        created: list[str] = []
        for spec in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name=spec.name,
                            num_partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication,
                            topic_configs=spec.configs(),
                        )
                    ]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another worker created it between our listing and our request
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()
