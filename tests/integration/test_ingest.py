"""Walking skeleton against the real broker: valid events are counted, every bad record
lands on the dead-letter topic with its own reason, and the worker keeps consuming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

from agents.dead_letters import REASON_HEADER, parse_dead_letter_headers
from schemas.events import EVENT_TYPES, TOPIC_TYPES
from tests.samples import valid_event
from tests.worker_process import WorkerProcess, wait_for, worker_env

pytestmark = pytest.mark.integration

FAMILY_OF = {event_type: family for family, types in TOPIC_TYPES.items() for event_type in types}


def _bad(**overrides: object) -> bytes:
    return orjson.dumps(valid_event("discount.granted", **overrides))


def _without(field: str) -> bytes:
    event = valid_event("discount.granted")
    del event[field]
    return orjson.dumps(event)


# key → (topic family, raw value, expected reason)
BAD_RECORDS: dict[str, tuple[str, bytes, str]] = {
    "not-json": ("crm.discounts", b"this is not json", "not_json"),
    "not-object": ("crm.discounts", b"[1, 2, 3]", "not_object"),
    "no-event-id": ("crm.discounts", _without("event_id"), "missing_field"),
    "no-type": ("crm.discounts", _without("type"), "missing_field"),
    "no-version": ("crm.discounts", _without("schema_version"), "missing_field"),
    "no-occurred-at": ("crm.discounts", _without("occurred_at"), "missing_field"),
    "no-source": ("crm.discounts", _without("source"), "missing_field"),
    "unknown-type": ("crm.discounts", _bad(type="discount.revoked"), "unknown_type"),
    "unknown-version": ("crm.discounts", _bad(schema_version=99), "unknown_schema_version"),
    "wrong-type": ("crm.discounts", _bad(list_amount="12"), "wrong_type"),
    "discount-101": ("crm.discounts", _bad(discount_pct=101), "out_of_range"),
    "discount-minus-1": ("crm.discounts", _bad(discount_pct=-1), "out_of_range"),
    "negative-amount": ("crm.discounts", _bad(list_amount=-5), "out_of_range"),
    "nan": (
        "crm.discounts",
        _bad().replace(b'"discount_pct":', b'"discount_pct":NaN,"x":'),
        "non_finite_number",
    ),
    "infinity": (
        "crm.discounts",
        _bad().replace(b'"discount_pct":', b'"discount_pct":Infinity,"x":'),
        "non_finite_number",
    ),
    "no-zone": (
        "crm.discounts",
        _bad(occurred_at="2026-11-20T10:00:00"),
        "timestamp_without_zone",
    ),
    "year-9999": ("crm.discounts", _bad(occurred_at="9999-01-01T00:00:00Z"), "absurd_timestamp"),
    "two-megabytes": ("crm.notes", orjson.dumps(
        valid_event("note.logged", body="x" * 2_000_000)
    ), "oversized"),
    "invalid-utf8": ("crm.notes", orjson.dumps(
        valid_event("note.logged", body="PLACEHOLDER")
    ).replace(b"PLACEHOLDER", b"\xff\xfe\xfa"), "invalid_utf8"),
    "wrong-topic": ("crm.deals", _bad(), "wrong_topic"),
}


@pytest.fixture
def worker(
    kafka_bootstrap: str, unique_topic_prefix: str, tmp_path: Path
) -> Iterator[WorkerProcess]:
    process = WorkerProcess(
        env=worker_env(kafka_bootstrap, unique_topic_prefix, tmp_path / "data"),
        log_path=tmp_path / "worker.log",
    )
    process.start()
    yield process
    process.stop()


def test_bad_records_are_dead_lettered_and_valid_ones_counted(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    prefix = worker.env["LATITUDE_TOPIC_PREFIX"]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=8 * 1024 * 1024)
    valid_per_type = 5
    for event_type in EVENT_TYPES:
        for n in range(valid_per_type):
            event = valid_event(event_type, event_id=f"{event_type}-{n}")
            producer.send(
                prefix + FAMILY_OF[event_type],
                key=event["event_id"].encode(),
                value=orjson.dumps(event),
            )
    for key, (family, value, _) in BAD_RECORDS.items():
        producer.send(prefix + family, key=key.encode(), value=value)
    producer.flush()

    dead = _read_dead_letters(kafka_bootstrap, prefix + "latitude.dead-letters", len(BAD_RECORDS))
    assert set(dead) == set(BAD_RECORDS)
    for key, (family, value, reason) in BAD_RECORDS.items():
        record_value, headers = dead[key]
        assert record_value == value, f"{key}: the original bytes must be kept"
        assert headers[REASON_HEADER] == reason, f"{key}: {headers}"
        assert headers["__connect.errors.topic"] == prefix + family
        assert int(headers["__connect.errors.offset"]) >= 0
        assert int(headers["__connect.errors.partition"]) >= 0

    expected_valid = valid_per_type * len(EVENT_TYPES)
    wait_for(
        lambda: worker.metric("latitude_events_consumed_total") == expected_valid,
        60,
        f"{expected_valid} events counted",
    )
    for event_type in EVENT_TYPES:
        assert worker.metric("latitude_events_consumed_total", type=event_type) == valid_per_type
    for key, (_, _, reason) in BAD_RECORDS.items():
        assert worker.metric("latitude_dead_letters_total", reason=reason) >= 1, key
    assert worker.metric("latitude_dead_letters_total") == len(BAD_RECORDS)
    # Faust's own sensor metrics are served on the same page.
    received = worker.metric("latitude_faust_messages_received_total")
    assert received >= expected_valid + len(BAD_RECORDS)

    # Still consuming after all of that.
    after = valid_event("lead.qualified", event_id="after")
    producer.send(prefix + "crm.leads", key=b"after", value=orjson.dumps(after))
    producer.flush()
    producer.close()
    wait_for(
        lambda: worker.metric("latitude_events_consumed_total") == expected_valid + 1,
        60,
        "the event sent after the bad ones",
    )


def _read_dead_letters(
    bootstrap: str, topic: str, expected: int
) -> dict[str, tuple[bytes, dict[str, str]]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    found: dict[str, tuple[bytes, dict[str, str]]] = {}

    def poll() -> bool:
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                key = record.key.decode() if record.key else ""
                found[key] = (record.value, parse_dead_letter_headers(list(record.headers)))
        return len(found) >= expected

    try:
        wait_for(poll, 90, f"{expected} dead letters on {topic}")
    finally:
        consumer.close()
    return found
