"""Service-health counters kept as plain dicts and exported by a collector at scrape time.

Incrementing a dict entry costs ~0.1 µs; a ``prometheus_client`` ``.labels().inc()`` per
event costs ~1.2 µs (ARCHITECTURE.md), so the hot path never touches prometheus_client.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class IngestCounters:
    """What the ingest agent saw, by topic and type, and what it rejected, by reason."""

    def __init__(self) -> None:
        self.consumed: Counter[tuple[str, str]] = Counter()
        self.dead_letters: Counter[tuple[str, str]] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.redeliveries: Counter[str] = Counter()
        self.roster_misses = 0
        self._missed_reps: set[str] = set()

    def accepted(self, topic: str, event_type: str) -> None:
        """Count one decoded event."""
        self.consumed[topic, event_type] += 1

    def rejected(self, topic: str, reason: str) -> None:
        """Count one dead-lettered record."""
        self.dead_letters[topic, reason] += 1

    def duplicate(self, stage: str) -> None:
        """Count one event ignored by ``stage`` because its event_id was applied before."""
        self.duplicates[stage] += 1

    def redelivered(self, stage: str) -> None:
        """Count one record ``stage`` skipped because it had processed it, or applied
        the message, before (Kafka's at-least-once redelivery after a crash or
        handover; not a duplicate in the input)."""
        self.redeliveries[stage] += 1

    def roster_miss(self, rep_id: str) -> None:
        """Count one look-up of a rep this worker's roster does not know (its decisions
        are judged with the default tier); the first for each rep is logged."""
        self.roster_misses += 1
        if rep_id not in self._missed_reps:
            self._missed_reps.add(rep_id)
            log.warning("rep %s is not in this worker's roster: judged with the default "
                        "tier and team unassigned until its roster record arrives", rep_id)


class IngestCollector(Collector):
    """Exports :class:`IngestCounters` under Prometheus naming conventions."""

    def __init__(self, counters: IngestCounters) -> None:
        self._counters = counters

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        consumed = CounterMetricFamily(
            "latitude_events_consumed",
            "Input events decoded and accepted for processing, by topic and event type.",
            labels=["topic", "type"],
        )
        for (topic, event_type), count in sorted(self._counters.consumed.items()):
            consumed.add_metric([topic, event_type], count)
        yield consumed
        dead = CounterMetricFamily(
            "latitude_dead_letters",
            "Input records sent to the dead-letter topic, by source topic and reason.",
            labels=["topic", "reason"],
        )
        for (topic, reason), count in sorted(self._counters.dead_letters.items()):
            dead.add_metric([topic, reason], count)
        yield dead
        duplicates = CounterMetricFamily(
            "latitude_duplicate_events",
            "Events ignored because their event_id was already applied, by stage.",
            labels=["stage"],
        )
        for stage, count in sorted(self._counters.duplicates.items()):
            duplicates.add_metric([stage], count)
        yield duplicates
        redelivered = CounterMetricFamily(
            "latitude_redelivered_records",
            "Records skipped as redelivered after a crash or handover (processed or "
            "applied before), by stage.",
            labels=["stage"],
        )
        for stage, count in sorted(self._counters.redeliveries.items()):
            redelivered.add_metric([stage], count)
        yield redelivered
        late = CounterMetricFamily(
            "latitude_late_events",
            "Input events rejected as later than the lateness bound (also dead-lettered).",
            labels=["topic"],
        )
        for (topic, reason), count in sorted(self._counters.dead_letters.items()):
            if reason == "late":
                late.add_metric([topic], count)
        yield late
        misses = CounterMetricFamily(
            "latitude_roster_misses",
            "Look-ups of a rep this worker's roster does not know (default tier, team "
            "unassigned).",
        )
        misses.add_metric([], self._counters.roster_misses)
        yield misses
