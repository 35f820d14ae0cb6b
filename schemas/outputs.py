"""Output records Latitude publishes: KPI snapshots, violations, alerts, dead letters."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from schemas.errors import Reason
from schemas.events import Id, Timestamp


class Status(StrEnum):
    """How a KPI value compares with its target and breach threshold."""

    OK = "ok"
    WARNING = "warning"
    BREACH = "breach"
    INSUFFICIENT_DATA = "insufficient_data"


class Scope(StrEnum):
    """Whether a record is about one rep or a whole team."""

    REP = "rep"
    TEAM = "team"


class Severity(StrEnum):
    """How serious a violation or alert is."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class KpiValue(msgspec.Struct, kw_only=True, frozen=True):
    """One KPI figure with what it was computed from and how it is judged.

    ``value`` is None when ``status`` is insufficient_data. ``target`` is None for
    KPIs that are only reported.
    """

    value: float | None
    numerator: float
    denominator: float | None
    target: float | None
    status: Status


class KpiSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    """All KPIs of one rep or team at a stream time; key on the topic: ``scope:id``."""

    scope: Scope
    id: Id
    team: Id | None
    stream_time: Timestamp
    kpis: dict[str, KpiValue]
    schema_version: int = 1


class Violation(msgspec.Struct, kw_only=True, frozen=True):
    """A guardrail broken. ``violation_id`` is stable, so a replay overwrites, never adds."""

    violation_id: Id
    rule: str
    severity: Severity
    rep_id: Id | None
    team: Id | None
    deal_id: Id | None = None
    account_id: Id | None = None
    values: dict[str, float | str | None]
    event_id: Id | None
    occurred_at: Timestamp
    schema_version: int = 1


class AlertState(StrEnum):
    """Whether an alert starts (firing) or ends (resolved)."""

    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(msgspec.Struct, kw_only=True, frozen=True):
    """A KPI crossing its threshold (firing) or coming back past it (resolved)."""

    alert_id: Id
    state: AlertState
    kpi: str
    scope: Scope
    id: Id
    team: Id | None
    severity: Severity
    value: float | None
    threshold: float
    stream_time: Timestamp
    schema_version: int = 1


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """Why a record was rejected and where it came from.

    On the dead-letter topic the record value is the original bytes, untouched; these
    fields travel as headers named after Kafka Connect's ``__connect.errors.*``.
    """

    reason: Reason
    detail: str
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    rejected_at: Timestamp
