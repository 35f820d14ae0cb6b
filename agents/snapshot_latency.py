"""``latitude_snapshot_latency_seconds``: from a keyed stage changing a rep's or team's
state to the KPI snapshot that carries the change being handed to the producer.

The pipeline reports both ends by snapshot key (``rep:<id>`` / ``team:<id>``); only the
first change since the last snapshot of a key is timed, so a rep with many events per
snapshot interval costs one dict lookup per event and one observation per snapshot.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Histogram

# Snapshots are coalesced per key over LATITUDE_SNAPSHOT_INTERVAL_SECONDS (2 s), so the
# interesting range is a few hundred milliseconds to a minute (the alert is at 30 s).
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class SnapshotLatency:
    """Times state changes until the snapshot that publishes them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram(
            "latitude_snapshot_latency_seconds",
            "From a state change of a rep or team to the KPI snapshot that publishes it.",
            buckets=BUCKETS,
            registry=registry,
        )
        self._pending: dict[str, float] = {}

    def changed(self, key: str) -> None:
        """The state behind snapshot ``key`` changed (the first change starts the clock)."""
        if key not in self._pending:
            self._pending[key] = time.monotonic()

    def published(self, key: str) -> None:
        """A snapshot of ``key`` was sent: observe the wait since its first change."""
        started = self._pending.pop(key, None)
        if started is not None:
            self.histogram.observe(time.monotonic() - started)

    def unchanged(self, key: str) -> None:
        """The change left the snapshot of ``key`` as it was: nothing to publish."""
        self._pending.pop(key, None)
