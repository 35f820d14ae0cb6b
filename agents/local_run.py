"""``latitude run``: local broker, worker and sample producer together, stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from agents.cli import KAFKA_SCRIPT
from agents.settings import Settings
from agents.topics import ensure_topics

SUMMARY_EVERY_SECONDS = 5.0


def run_everything(settings: Settings, *, rate: float) -> int:
    """Start broker, worker and producer; print progress until interrupted; stop them all."""
    own_broker = "LATITUDE_KAFKA_BOOTSTRAP" not in os.environ
    if own_broker and subprocess.call(["bash", str(KAFKA_SCRIPT), "start"]) != 0:
        return 1
    children: list[subprocess.Popen[bytes]] = []
    try:
        ensure_topics(settings)
        latitude = [sys.executable, "-m", "agents.cli"]
        children.append(subprocess.Popen([*latitude, "worker"]))
        children.append(subprocess.Popen([*latitude, "produce", "--rate", str(rate)]))
        metrics_url = f"http://{settings.web_host}:{settings.web_port}/metrics"
        print(
            f"\nLatitude is running.\n  Kafka:   {settings.kafka_bootstrap}\n"
            f"  metrics: {metrics_url}\n  Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(SUMMARY_EVERY_SECONDS)
            print(summary_line(metrics_url), flush=True)
        return 1  # a child ended on its own: stop the rest and report failure
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            stop_child(child)
        if own_broker:
            subprocess.call(["bash", str(KAFKA_SCRIPT), "stop"])


def stop_child(child: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Ask a child to stop (SIGTERM), and kill it if it does not within ``timeout``."""
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def summary_line(metrics_url: str) -> str:
    """One line with the worker's event and dead-letter totals, read from /metrics."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return "worker starting…"
    totals = {"latitude_events_consumed_total": 0.0, "latitude_dead_letters_total": 0.0}
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return (
        f"events consumed: {totals['latitude_events_consumed_total']:.0f}   "
        f"dead letters: {totals['latitude_dead_letters_total']:.0f}"
    )
