"""Consumer lag (cached by a timer, read by the collector), snapshot latency and roster
misses."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import NamedTuple

import msgspec
from prometheus_client import CollectorRegistry

from agents.consumer_lag import ConsumerLag
from agents.metrics import IngestCollector, IngestCounters
from agents.roster import RosterView
from agents.snapshot_latency import SnapshotLatency
from streams.stages import UNASSIGNED, RosterEntry


class TP(NamedTuple):
    topic: str
    partition: int


class FakeConsumer:
    """Faust's consumer API as ConsumerLag uses it: assignment, cached highwater, and
    the position (an await on the consumer thread)."""

    def __init__(self, offsets: dict[TP, tuple[int | None, int | None]]) -> None:
        self.offsets = offsets

    def assignment(self) -> set[TP]:
        return set(self.offsets)

    def highwater(self, tp: TP) -> int | None:
        return self.offsets[tp][0]

    async def position(self, tp: TP) -> int | None:
        return self.offsets[tp][1]


def lag_samples(lag: ConsumerLag) -> dict[tuple[str, str], float]:
    [family] = lag.collect()
    return {(s.labels["topic"], s.labels["partition"]): s.value for s in family.samples}


def test_consumer_lag_of_assigned_input_partitions_only() -> None:
    lag = ConsumerLag({"p.crm.deals": "crm.deals", "p.crm.notes": "crm.notes"})
    assert lag_samples(lag) == {}, "nothing before the first refresh"
    consumer = FakeConsumer({
        TP("p.crm.deals", 0): (120, 100),
        TP("p.crm.deals", 1): (50, 50),
        TP("p.crm.notes", 0): (None, 3),  # no fetch yet: unknown, not 0
        TP("p.latitude-by-rep", 0): (900, 0),  # internal topic: not an input
    })
    asyncio.run(lag.refresh(consumer))
    assert lag_samples(lag) == {("crm.deals", "0"): 20, ("crm.deals", "1"): 0}
    del consumer.offsets[TP("p.crm.deals", 0)]  # revoked
    asyncio.run(lag.refresh(consumer))
    assert lag_samples(lag) == {("crm.deals", "1"): 0}


def observations(registry: CollectorRegistry) -> float:
    value = registry.get_sample_value("latitude_snapshot_latency_seconds_count")
    assert value is not None
    return value


def test_snapshot_latency_times_the_first_change_until_its_snapshot() -> None:
    registry = CollectorRegistry()
    latency = SnapshotLatency(registry)
    latency.published("rep:r-1")  # a snapshot without a change (stream time moved)
    assert observations(registry) == 0
    latency.changed("rep:r-1")
    latency.changed("rep:r-1")  # many events, one snapshot: one observation
    latency.changed("team:a")
    latency.published("rep:r-1")
    assert observations(registry) == 1
    latency.unchanged("team:a")  # the change did not alter the snapshot
    latency.published("team:a")
    assert observations(registry) == 1


def test_roster_misses_are_counted_and_each_rep_logged_once(caplog) -> None:
    counters = IngestCounters()
    table = SimpleNamespace(data={"r-1": msgspec.msgpack.encode(  # a table over its store
        RosterEntry(0, "e1", "team-a", "junior", None))})
    roster = RosterView(table, counters.roster_miss)
    assert roster.team_of("r-1") == "team-a"
    with caplog.at_level(logging.WARNING, logger="agents.metrics"):
        assert roster.get("r-2") is None
        assert roster.team_of("r-2") == UNASSIGNED
    registry = CollectorRegistry()
    registry.register(IngestCollector(counters))
    assert registry.get_sample_value("latitude_roster_misses_total") == 2
    assert [r.getMessage().split()[1] for r in caplog.records] == ["r-2"]


def test_the_worker_exports_its_process_memory() -> None:
    from agents.app import Latitude
    from agents.settings import Settings

    registry = Latitude(Settings.load({"LATITUDE_STORE": "memory"})).registry
    resident = registry.get_sample_value("process_resident_memory_bytes")
    assert resident is not None and resident > 10 * 2**20
