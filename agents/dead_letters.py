"""Dead-letter records: the original bytes untouched, the why and where in headers.

Header names follow Kafka Connect's ``errors.deadletterqueue.context.headers.enable``
convention (``__connect.errors.*``) so existing DLQ tooling reads them; Latitude adds its
machine-readable reason code and the original record time.
"""

from __future__ import annotations

from datetime import UTC, datetime

REASON_HEADER = "__connect.errors.latitude.reason"


def dead_letter_headers(
    *,
    reason: str,
    detail: str,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    stage: str = "VALUE_CONVERTER",
    now: datetime | None = None,
) -> list[tuple[str, bytes]]:
    """Headers describing why and where a record was rejected."""
    rejected_at = (now or datetime.now(UTC)).isoformat()
    headers = {
        "__connect.errors.topic": topic,
        "__connect.errors.partition": str(partition),
        "__connect.errors.offset": str(offset),
        "__connect.errors.stage": stage,
        "__connect.errors.exception.class.name": "latitude.InvalidEvent",
        "__connect.errors.exception.message": f"{reason}: {detail}",
        REASON_HEADER: reason,
        "__connect.errors.latitude.rejected_at": rejected_at,
    }
    if timestamp_ms is not None:
        headers["__connect.errors.latitude.timestamp_ms"] = str(timestamp_ms)
    return [(name, value.encode()) for name, value in headers.items()]


def parse_dead_letter_headers(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    """The dead-letter headers of a record as a name → text mapping."""
    return {
        name: value.decode()
        for name, value in headers
        if name.startswith("__connect.errors.")
    }
