"""RecordSensors export what Faust's PrometheusMonitor exports for the same hook calls:
the same sample names, labels and values."""

from __future__ import annotations

from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.faust_sensors import Buckets, record_sensors

PREFIX = "latitude_faust"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Message:
    time_in: float | None = None
    time_out: float | None = None
    time_total: float | None = None


class Task:
    pass


class Stream:
    shortlabel = "Stream: Topic: latitude-by-rep"

    def __init__(self) -> None:
        self.task_owner = Task()


class Table:
    name = "reps"


def faust_monitor(registry: CollectorRegistry, clock: Clock) -> PrometheusMonitor:
    return PrometheusMonitor(FaustMetrics.create(registry, PREFIX), time=clock)


def drive(monitor: Any, clock: Clock) -> None:
    """A little of everything a worker's monitor sees, at known times."""
    deals, reps = TP("crm.deals", 0), TP("by-rep", 3)
    stream, table, message = Stream(), Table(), Message()
    for offset in (5, 6, 7):
        monitor.on_message_in(deals, offset, message)
    monitor.on_message_in(reps, 40, message)
    for runtime in (0.004, 0.012, 0.3, 20.0):
        state = monitor.on_stream_event_in(deals, 7, stream, object())
        clock.now += runtime
        monitor.on_stream_event_out(deals, 7, stream, object(), state)
    monitor.on_message_out(deals, 7, message)
    monitor.on_table_get(table, "rep-1")
    monitor.on_table_set(table, "rep-1", b"v")
    monitor.on_table_set(table, "rep-2", b"v")
    monitor.on_table_del(table, "rep-1")
    for latency in (0.001, 0.025, 0.025):
        sent = monitor.on_send_initiated(None, "latitude-by-deal", None, 3, 10)
        clock.now += latency
        monitor.on_send_completed(None, sent, None)
    monitor.on_send_initiated(None, "latitude.violations", None, 3, 10)
    monitor.track_tp_end_offset(deals, 120)
    monitor.track_tp_end_offset(reps, 41)
    committing = monitor.on_commit_initiated(None)
    clock.now += 0.05
    monitor.on_commit_completed(None, committing)
    monitor.on_tp_commit({deals: 7})
    monitor.count("custom", 2)


def samples(registry: CollectorRegistry) -> set[tuple[str, frozenset[tuple[str, str]], float]]:
    text = generate_latest(registry).decode()
    return {(s.name, frozenset(s.labels.items()), s.value)
            for family in text_string_to_metric_families(text) for s in family.samples
            if not s.name.endswith("_created")}


def test_same_samples_as_faust_prometheus_monitor() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    faust_clock, our_clock = Clock(), Clock()
    drive(faust_monitor(theirs, faust_clock), faust_clock)
    drive(record_sensors(ours, PREFIX, time=our_clock), our_clock)
    expected = samples(theirs)
    assert len(expected) > 60  # the comparison covers every family, buckets included
    assert samples(ours) == expected


def test_same_samples_when_nothing_happened() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    faust_monitor(theirs, Clock())
    record_sensors(ours, PREFIX, time=Clock())
    assert samples(ours) == samples(theirs)


def test_bucket_bounds_are_inclusive() -> None:
    buckets = Buckets((5, 10))
    for value in (5, 5.5, 10, 11):
        buckets.observe(value)
    assert buckets.counts == [1, 2, 1]
    assert buckets.sum == 31.5
