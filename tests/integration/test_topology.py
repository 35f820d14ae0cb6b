"""The stream topology on the real broker: final KPI snapshots and violations equal what
the pure engine computes from the same deliveries — with one worker, with one SIGKILLed
mid-scenario and started again, and with two workers of which one stops mid-scenario —
and the same file replayed twice gives identical snapshots."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agents.topics import INPUT_TOPICS
from tests.topology_scenario import (
    DeadLetterReader,
    Expected,
    Scenario,
    TopicReader,
    build_scenario,
    comparable,
    expected_results,
    produce,
    wait_for_snapshots,
    wait_for_violations,
)
from tests.worker_process import WorkerProcess, sample, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

StartWorker = Callable[..., WorkerProcess]
TOPOLOGY_SETTINGS = {
    "LATITUDE_SNAPSHOT_INTERVAL_SECONDS": "1",
    "LATITUDE_LIVE_CLOCK": "false",
}


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    built = build_scenario(11, teams=4, reps_per_team=9, activity=10.0)
    assert len(built.records) >= 50_000, len(built.records)
    return built


@pytest.fixture
def start_worker(
    kafka_bootstrap: str, unique_topic_prefix: str, tmp_path: Path
) -> Iterator[StartWorker]:
    workers: list[WorkerProcess] = []

    def start(name: str = "w1", partitions: int = 4) -> WorkerProcess:
        # Same prefix: every worker of a test shares the topics and the consumer group.
        env = worker_env(
            kafka_bootstrap,
            unique_topic_prefix,
            tmp_path / f"data-{name}",
            LATITUDE_TOPIC_PARTITIONS=str(partitions),
            **TOPOLOGY_SETTINGS,
        )
        worker = WorkerProcess(env=env, log_path=tmp_path / f"{name}.log")
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def _readers(bootstrap: str, prefix: str) -> tuple[TopicReader, TopicReader]:
    return (
        TopicReader(bootstrap, f"{prefix}.latitude.kpi-snapshots"),
        TopicReader(bootstrap, f"{prefix}.latitude.violations"),
    )


def _produce_scenario(bootstrap: str, scenario: Scenario, *workers: WorkerProcess) -> None:
    """Roster and quotas first, as a CRM's long-lived compacted topics would be; once
    the workers consumed the roster, the activity."""
    prefix = workers[0].env["LATITUDE_TOPIC_PREFIX"]
    produce(bootstrap, prefix, scenario.setup)
    reps = {key for family, key, _ in scenario.setup if family == "crm.reps"}
    # Every worker's copy of the roster, not just the one that consumed it: a worker
    # whose copy lags judges a rep's decisions with the default tier (docs/topology.md).
    wait_for(
        lambda: all(worker.metric("latitude_roster_reps") >= len(reps) for worker in workers),
        60,
        f"the roster of {len(reps)} reps in every worker",
    )
    produce(bootstrap, prefix, scenario.activity)


def test_end_to_end_equals_pure_engine(
    start_worker: StartWorker,
    kafka_bootstrap: str,
    unique_topic_prefix: str,
    scenario: Scenario,
) -> None:
    expected = expected_results(scenario)
    worker = start_worker()
    _produce_scenario(kafka_bootstrap, scenario, worker)
    _check_results(kafka_bootstrap, unique_topic_prefix, expected, worker)
    page = worker.scrape()
    assert sample(page, "latitude_late_events_total") == expected.late
    assert sample(page, "latitude_dead_letters_total") == expected.bad + expected.late
    # The KPI families on /metrics come from the same state as the snapshots.
    for rep, kpis in expected.rep_kpis.items():
        autonomy = kpis["autonomy_level"]
        numerator = sample(page, "latitude_autonomy_level_numerator", rep=rep)
        assert numerator == pytest.approx(autonomy.numerator), rep
        if autonomy.value is not None:
            value = sample(page, "latitude_autonomy_level_ratio", rep=rep)
            assert value == pytest.approx(autonomy.value), rep
    assert sample(page, "latitude_autonomy_level_target_ratio", team="team-a") == 0.8
    # Native memory, from RocksDB's own properties: the deal stage's writes sit in
    # memtables (a scenario this small never fills one).
    assert sample(page, "latitude_rocksdb_databases", table="decisions") > 0
    assert sample(page, "latitude_rocksdb_memtable_bytes", table="decisions") > 0
    assert "\nlatitude_rocksdb_block_cache_bytes " in page


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
            _produce_scenario(kafka_bootstrap, small, worker)
            snapshots, _ = _readers(kafka_bootstrap, prefix)
            wait_for_snapshots(snapshots, expected, timeout=180)
            finals.append(comparable(snapshots.latest()))
        finally:
            worker.stop()
    assert finals[0] == finals[1]


def _consumed(worker: WorkerProcess) -> float:
    return worker.metric("latitude_events_consumed_total")


def _check_results(
    bootstrap: str, prefix: str, expected: Expected, worker: WorkerProcess
) -> None:
    """Final snapshots and violations equal the engine's; every violation published
    with one content; every late and bad record dead-lettered once in all."""
    snapshots, violations = _readers(bootstrap, prefix)
    dead = DeadLetterReader(bootstrap, f"{prefix}.latitude.dead-letters")
    try:
        wait_for_snapshots(snapshots, expected, timeout=600)
        wait_for_violations(violations, expected, timeout=60)
        wait_for(lambda: len(dead.sources()) >= expected.bad + expected.late, 60,
                 "every bad and late record dead-lettered")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{worker.diagnosis()}") from None
    assert len(dead.sources()) == expected.bad + expected.late
    assert worker.running, worker.log_tail()


def test_sigkill_mid_scenario_then_restart_gives_the_same_results(
    start_worker: StartWorker,
    kafka_bootstrap: str,
    unique_topic_prefix: str,
    scenario: Scenario,
) -> None:
    expected = expected_results(scenario)
    worker = start_worker()
    _produce_scenario(kafka_bootstrap, scenario, worker)
    # Killed while a third of the activity is through the ingest agent: stage and
    # output messages are in flight, offsets partly committed.
    third = len(scenario.activity) / 3
    wait_for(lambda: _consumed(worker) >= third, 300, f"{third:.0f} events consumed")
    worker.stop(signal.SIGKILL)
    worker.start()
    _check_results(kafka_bootstrap, unique_topic_prefix, expected, worker)


def test_two_workers_then_one_hands_over_with_nothing_lost(
    start_worker: StartWorker,
    kafka_bootstrap: str,
    unique_topic_prefix: str,
    scenario: Scenario,
) -> None:
    expected = expected_results(scenario)
    first = start_worker("w1", partitions=8)
    second = start_worker("w2", partitions=8)
    _produce_scenario(kafka_bootstrap, scenario, first, second)
    # Both work on it; then the second stops (as a scale-in or a rolling restart
    # does) and the first takes over its partitions.
    third = len(scenario.activity) / 3
    wait_for(lambda: _consumed(first) + _consumed(second) >= third, 300,
             f"{third:.0f} events consumed by the two workers")
    assert _consumed(first) > 0 and _consumed(second) > 0, "both workers consumed"
    second.stop()
    every_input = 8 * len(INPUT_TOPICS)
    wait_for(lambda: _input_partitions(first) == every_input, 180,
             f"the first worker consuming all {every_input} input partitions")
    _check_results(kafka_bootstrap, unique_topic_prefix, expected, first)


def _input_partitions(worker: WorkerProcess) -> int:
    """How many input partitions the worker reports consumer lag for (its assignment)."""
    page = worker.metrics_text() or ""
    return sum(1 for line in page.splitlines()
               if line.startswith("latitude_consumer_lag_messages{"))
