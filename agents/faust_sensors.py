"""Faust's sensor metrics (``latitude_faust_*``): the names, labels and values of Faust's
PrometheusMonitor, without a prometheus_client call per record.

Faust's PrometheusMonitor does a ``.labels(...).inc()``, ``.set()`` or histogram
``observe`` in every hook Faust calls per record: message in and out, event in and
out, send initiated and completed, table get and set, end offsets. Those calls were
5.8 % of the worker's event loop at 1,000 events/s paced. Here those hooks only keep
Faust's own Monitor counters (plain ints and dicts) and two histograms of bucket
counts, and :class:`RecordSensorCollector` builds their families from them at scrape
time. The hooks Faust calls now and then (commits, rebalances, assignments, web
requests, send errors) keep PrometheusMonitor's own metrics.
"""

from __future__ import annotations

import bisect
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import MS_LATENCY_BUCKETS, FaustMetrics, PrometheusMonitor
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# FaustMetrics fields fed by per-record hooks: exported by RecordSensorCollector.
PER_RECORD = (
    "messages_received", "active_messages", "messages_received_per_topics",
    "messages_received_per_topics_partition", "events_runtime_latency", "total_events",
    "total_active_events", "total_events_per_stream", "table_operations",
    "topic_messages_sent", "total_sent_messages", "producer_send_latency",
    "topic_partition_end_offset",
)


class Buckets:
    """A histogram's cumulative state: a count per bucket (upper bounds inclusive, as
    Prometheus's ``le``, plus +Inf) and the sum of observations."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative, total = [], 0
        for bound, count in zip((*map(floatToGoString, self.bounds), "+Inf"), self.counts,
                                strict=True):
            total += count
            cumulative.append((bound, total))
        return HistogramMetricFamily(name, documentation, buckets=cumulative,
                                     sum_value=self.sum)


class RecordSensors(PrometheusMonitor):
    """Faust's PrometheusMonitor with its per-record hooks reduced to Faust's Monitor
    bookkeeping (see the module docstring)."""

    on_message_in = Monitor.on_message_in
    on_message_out = Monitor.on_message_out
    on_table_get = Monitor.on_table_get
    on_table_set = Monitor.on_table_set
    on_table_del = Monitor.on_table_del
    on_send_initiated = Monitor.on_send_initiated
    track_tp_end_offset = Monitor.track_tp_end_offset

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics, **kwargs)
        self.events_per_stream: Counter[str] = Counter()
        self.events_runtime_ms = Buckets(MS_LATENCY_BUCKETS)
        self.send_latency_ms = Buckets(MS_LATENCY_BUCKETS)
        self._stream_labels: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> Any:
        state = Monitor.on_stream_event_in(self, tp, offset, stream, event)
        label = self._stream_labels.get(stream)
        if label is None:
            label = self._stream_labels[stream] = f"stream.{self._stream_label(stream)}.events"
        self.events_per_stream[label] += 1
        return state

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any,
                            state: Any = None) -> None:
        Monitor.on_stream_event_out(self, tp, offset, stream, event, state)
        if state is not None:
            self.events_runtime_ms.observe(self.secs_to_ms(state["time_total"]))

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        Monitor.on_send_completed(self, producer, state, metadata)
        self.send_latency_ms.observe(self.secs_to_ms(self.send_latency[-1]))


class RecordSensorCollector(Collector):
    """The families of :data:`PER_RECORD`, read from ``sensors`` at scrape time, named
    ``prefix``_... as Faust's FaustMetrics names them."""

    def __init__(self, sensors: RecordSensors, prefix: str) -> None:
        self._sensors = sensors
        self._prefix = prefix

    def collect(self) -> Iterator[Metric]:
        s, name = self._sensors, self._prefix + "_"
        yield _counter(name + "messages_received", "Total messages received",
                       {(): s.messages_received_total})
        yield _gauge(name + "active_messages", "Total active messages",
                     {(): s.messages_active})
        yield _counter(name + "messages_received_per_topic", "Messages received per topic",
                       {(t,): n for t, n in s.messages_received_by_topic.items()}, ("topic",))
        yield _gauge(name + "messages_received_per_topics_partition",
                     "Messages received per topic/partition", _by_tp(s.tp_read_offsets),
                     ("topic", "partition"))
        yield s.events_runtime_ms.family(name + "events_runtime_ms", "Events runtime in ms")
        yield _counter(name + "total_events", "Total events received", {(): s.events_total})
        yield _gauge(name + "total_active_events", "Total active events",
                     {(): s.events_active})
        yield _counter(name + "total_events_per_stream", "Events received per Stream",
                       {(label,): n for label, n in s.events_per_stream.items()}, ("stream",))
        operations: dict[tuple[str, ...], float] = {}
        for table, state in s.tables.items():
            for operation in (s.KEYS_RETRIEVED, s.KEYS_UPDATED, s.KEYS_DELETED):
                count = getattr(state, operation)
                if count:
                    operations[f"table.{table}", operation] = count
        yield _counter(name + "table_operations", "Total table operations", operations,
                       ("table", "operation"))
        yield _counter(name + "topic_messages_sent", "Total messages sent per topic",
                       {(f"topic.{t}",): n for t, n in s.messages_sent_by_topic.items()},
                       ("topic",))
        yield _counter(name + "total_sent_messages", "Total messages sent",
                       {(): sum(s.send_latency_ms.counts)})
        yield s.send_latency_ms.family(name + "producer_send_latency",
                                       "Producer send latency in ms")
        yield _gauge(name + "topic_partition_end_offset", "Offset ends per topic/partition",
                     _by_tp(s.tp_end_offsets), ("topic", "partition"))


def _by_tp(offsets: Any) -> dict[tuple[str, ...], float]:
    return {(tp.topic, str(tp.partition)): offset for tp, offset in offsets.items()}


def _family(kind: type[CounterMetricFamily | GaugeMetricFamily], name: str,
            documentation: str, values: dict[tuple[str, ...], float],
            labels: Sequence[str] = ()) -> Metric:
    family = kind(name, documentation, labels=labels)
    for label_values, value in values.items():
        family.add_metric(label_values, value)
    return family


_counter = partial(_family, CounterMetricFamily)
_gauge = partial(_family, GaugeMetricFamily)


def record_sensors(registry: CollectorRegistry, prefix: str,
                   **monitor_options: Any) -> RecordSensors:
    """A :class:`RecordSensors` exporting into ``registry`` (``monitor_options``: Faust
    Monitor's, such as its clock)."""
    metrics = FaustMetrics.create(registry, prefix)
    for field in PER_RECORD:
        registry.unregister(getattr(metrics, field))
    sensors = RecordSensors(metrics, **monitor_options)
    registry.register(RecordSensorCollector(sensors, prefix))
    return sensors


def install(app: Any, registry: CollectorRegistry, prefix: str) -> RecordSensors:
    """Make ``app``'s monitor a :class:`RecordSensors` exporting into ``registry``, and
    serve ``registry`` at /metrics (what Faust's ``setup_prometheus_sensors`` does)."""
    sensors = app.monitor = record_sensors(registry, prefix)

    @app.page("/metrics")
    async def metrics_page(view: View, request: Request) -> Response:
        # In the headers: aiohttp refuses a content_type argument carrying a charset.
        return view.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return sensors
