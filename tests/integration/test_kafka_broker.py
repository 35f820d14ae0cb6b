"""The session broker (deploy/kafka/kafka.sh, or LATITUDE_KAFKA_BOOTSTRAP) works with
both client libraries the project uses: kafka-python for tests and tools, aiokafka
under Faust."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin import NewTopic as AIONewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from tests.kafka_broker import KafkaBroker

pytestmark = pytest.mark.integration

RECORDS = 100
DEADLINE_S = 30


def test_produced_records_are_all_consumed(kafka_bootstrap: str, unique_topic_prefix: str):
    topic = f"{unique_topic_prefix}-roundtrip"  # auto-created on first produce
    expected = [f"value-{i:03d}".encode() for i in range(RECORDS)]

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for i, value in enumerate(expected):
            producer.send(topic, key=f"key-{i % 7}".encode(), value=value)
        producer.flush(timeout=DEADLINE_S)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{unique_topic_prefix}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: list[bytes] = []
    try:
        deadline = time.monotonic() + DEADLINE_S
        while len(received) < RECORDS and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend(record.value for record in records)
    finally:
        consumer.close()

    # Sorted: an external cluster may default to several partitions.
    assert sorted(received) == expected


def test_admin_creates_topic_with_8_partitions(kafka_bootstrap: str, unique_topic_prefix: str):
    topic = f"{unique_topic_prefix}-wide"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics(
            [NewTopic(topic, num_partitions=8, replication_factor=1)],
            timeout_ms=DEADLINE_S * 1000,
        )
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()

    assert described["error_code"] == 0
    partitions = described["partitions"]
    assert sorted(p["partition_index"] for p in partitions) == list(range(8))
    assert all(p["error_code"] == 0 and p["leader_id"] >= 0 for p in partitions)
    assert all(len(p["replica_nodes"]) == 1 for p in partitions)

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        assert consumer.partitions_for_topic(topic) == set(range(8))
    finally:
        consumer.close()


def test_aiokafka_creates_topic_and_produces(kafka_bootstrap: str, unique_topic_prefix: str):
    # Faust creates its topics through aiokafka's admin client (broken on Kafka 4
    # before aiokafka 0.13), then produces with AIOKafkaProducer.
    topic = f"{unique_topic_prefix}-aio"

    async def scenario() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([AIONewTopic(topic, num_partitions=2, replication_factor=1)])
        finally:
            await admin.close()

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            metadata = await producer.send_and_wait(topic, b"hello", key=b"k", partition=1)
        finally:
            await producer.stop()
        return metadata.partition

    assert asyncio.run(asyncio.wait_for(scenario(), DEADLINE_S)) == 1


def test_kafka_sh_reports_the_session_broker(kafka_broker: KafkaBroker):
    if not kafka_broker.is_local:
        pytest.skip("LATITUDE_KAFKA_BOOTSTRAP points at an external cluster: no kafka.sh broker")

    status = kafka_broker.script("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "running" in status.stdout
    assert kafka_broker.bootstrap in status.stdout

    again = kafka_broker.script("start")  # idempotent: must not start a second broker
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
