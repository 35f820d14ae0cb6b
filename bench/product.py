"""The contender under test: the real product worker (``latitude worker``) as a child
process, with the LATITUDE_* environment the integration tests give it."""

from __future__ import annotations

import os
from pathlib import Path

from agents.settings import Settings
from agents.topics import INPUT_TOPICS, INTERNAL_STAGES, internal_topic
from bench.progress import GroupProgress, Span
from tests.worker_process import WorkerProcess, worker_env

PARTITIONS = 8  # the product's default LATITUDE_TOPIC_PARTITIONS
# Each stage partition gets a tick record every snapshot interval: that much lag on the
# internal topics is the timer talking, not work left over.
TICK_SLACK = 2 * PARTITIONS * len(INTERNAL_STAGES)


def settings_for(bootstrap: str, prefix: str) -> Settings:
    """The settings a worker started by :func:`start_worker` runs with (topic names)."""
    return Settings(
        kafka_bootstrap=bootstrap, app_id=prefix, topic_prefix=f"{prefix}.",
        topic_partitions=PARTITIONS,
    )


def input_topics(settings: Settings) -> list[str]:
    """The full names of the CRM input topics."""
    return [settings.topic(name) for name in INPUT_TOPICS]


def start_worker(bootstrap: str, prefix: str, data_dir: Path, log_path: Path, *,
                 wait_ready: bool = True) -> WorkerProcess:
    """Start a worker with app id ``prefix`` and topics ``prefix.*``; returns once its
    web server answers (``wait_ready``) or at once."""
    env = worker_env(
        bootstrap, prefix, data_dir,
        LATITUDE_TOPIC_PARTITIONS=str(PARTITIONS),
        LATITUDE_LOG_LEVEL="warn",
        # Replay mode: the corpus is history, so stream time is event time only; the
        # live clock would jump to today whenever the worker sits idle for a minute.
        LATITUDE_LIVE_CLOCK="false",
    )
    worker = WorkerProcess(env, log_path)
    worker.start(timeout=180, wait_ready=wait_ready)
    return worker


def peak_rss_bytes(worker: WorkerProcess) -> int:
    """The worker's peak resident set size so far (VmHWM of its process)."""
    assert worker.process is not None
    for line in Path(f"/proc/{worker.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc status")


def restart_peak_rss(worker: WorkerProcess) -> None:
    """Make the worker's peak RSS start again from its current RSS (Linux resets VmHWM
    when 5 is written to the process's clear_refs), so a phase's peak is its own."""
    assert worker.process is not None
    Path(f"/proc/{worker.process.pid}/clear_refs").write_text("5")


def cpu_seconds(worker: WorkerProcess) -> float:
    """CPU seconds the worker's process has used so far, every thread (user + system)."""
    assert worker.process is not None
    stat = Path(f"/proc/{worker.process.pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch_worker(
    progress: GroupProgress, settings: Settings, worker: WorkerProcess, timeout: float
) -> Span:
    """From the worker's first committed input to every input committed and its stage
    topics drained: events in, KPI state and outputs written."""
    inputs = progress.partitions(input_topics(settings))
    stages = progress.partitions(internal_topic(settings, stage) for stage in INTERNAL_STAGES)

    def drained() -> bool:
        return progress.lag(settings.app_id, stages) <= TICK_SLACK

    return progress.watch(settings.app_id, inputs, timeout=timeout, drained=drained,
                          alive=lambda: worker.running, cpu=lambda: cpu_seconds(worker))
