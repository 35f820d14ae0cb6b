"""The stream topology on the real broker: the same file replayed twice from scratch
gives identical KPI snapshots, equal to what the pure engine computes from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.topology_scenario import (
    Scenario,
    TopicReader,
    build_scenario,
    comparable,
    expected_results,
    produce,
    wait_for_snapshots,
)
from tests.worker_process import WorkerProcess, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

TOPOLOGY_SETTINGS = {
    "LATITUDE_SNAPSHOT_INTERVAL_SECONDS": "1",
    "LATITUDE_LIVE_CLOCK": "false",
}


def _readers(bootstrap: str, prefix: str) -> tuple[TopicReader, TopicReader]:
    return (
        TopicReader(bootstrap, f"{prefix}.latitude.kpi-snapshots"),
        TopicReader(bootstrap, f"{prefix}.latitude.violations"),
    )


def _produce_setup(worker: WorkerProcess, bootstrap: str, scenario: Scenario) -> None:
    """Roster and quotas first, as a CRM's long-lived compacted topics would be."""
    prefix = worker.env["LATITUDE_TOPIC_PREFIX"]
    produce(bootstrap, prefix, scenario.setup)
    reps = sum(1 for family, _, _ in scenario.setup if family == "crm.reps")
    wait_for(
        lambda: worker.metric("latitude_events_consumed_total", type="rep.updated") >= reps,
        60,
        "the roster consumed",
    )


def test_replaying_the_same_file_twice_gives_identical_snapshots(
    kafka_bootstrap: str, unique_topic_prefix: str, tmp_path: Path
) -> None:
    small = build_scenario(5, teams=2, reps_per_team=3, activity=1.0)
    expected = expected_results(small)
    finals = []
    for run in ("a", "b"):
        prefix = f"{unique_topic_prefix}-{run}"
        worker = WorkerProcess(
            env=worker_env(kafka_bootstrap, prefix, tmp_path / f"data-{run}", **TOPOLOGY_SETTINGS),
            log_path=tmp_path / f"{run}.log",
        )
        worker.start()
        try:
            _produce_setup(worker, kafka_bootstrap, small)
            produce(kafka_bootstrap, worker.env["LATITUDE_TOPIC_PREFIX"], small.activity)
            snapshots, _ = _readers(kafka_bootstrap, prefix)
            wait_for_snapshots(snapshots, expected, timeout=180)
            finals.append(comparable(snapshots.latest()))
        finally:
            worker.stop()
    assert finals[0] == finals[1]
