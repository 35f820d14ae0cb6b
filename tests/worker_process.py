"""Run a real Latitude worker as a subprocess for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``condition`` until it returns a truthy value or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


WORKER_ARGV = [sys.executable, "-m", "agents.cli", "worker"]


@dataclass
class WorkerProcess:
    """A ``latitude worker`` child process (or another command: ``argv``) and how to
    reach it."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    argv: list[str] = field(default_factory=lambda: list(WORKER_ARGV))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['LATITUDE_WEB_PORT']}"

    def start(self, timeout: float = 90.0, *, wait_ready: bool = True) -> None:
        """Start the worker and (``wait_ready``) wait until its web server answers
        /metrics."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait_ready:
            wait_for(self._ready, timeout, f"worker /metrics (log: {self.log_path})")

    @property
    def running(self) -> bool:
        """True while the process has been started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{self.log_tail()}")
        return self.metrics_text() is not None

    def metrics_text(self, timeout: float = 2.0) -> str | None:
        """The /metrics page, or None while the worker is not answering."""
        try:
            with urllib.request.urlopen(self.base_url + "/metrics", timeout=timeout) as response:
                return response.read().decode()
        except (urllib.error.URLError, OSError):
            return None

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels`` (0 while
        the worker is not answering: for polling)."""
        return sample(self.metrics_text() or "", name, **labels)

    def scrape(self, timeout: float = 30.0) -> str:
        """The /metrics page; fails when the worker does not answer within ``timeout``."""
        text = self.metrics_text(timeout)
        assert text is not None, f"{self.base_url}/metrics did not answer in {timeout:.0f}s"
        return text

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        """Stop the worker (SIGTERM by default) and wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def diagnosis(self) -> str:
        """What the worker is doing, for a failure message: running or not, events
        consumed and still lagging, and its last warnings and errors."""
        page = self.metrics_text(timeout=10) or ""
        lagging = [line for line in page.splitlines()
                   if line.startswith("latitude_consumer_lag_messages{")
                   and not line.endswith(" 0.0")]
        log = self.log_path.read_text(errors="replace").splitlines()
        alarms = [line for line in log
                  if any(level in line for level in ("[WARNING]", "[ERROR]", "[CRITICAL]"))]
        return "\n".join([
            f"worker {self.log_path.name}: running={self.running}, "
            f"consumed={sample(page, 'latitude_events_consumed_total'):.0f}, "
            f"partitions lagging: {lagging or 'none'}",
            "last warnings and errors:", *alarms[-15:],
            "log tail:", *log[-10:],
        ])


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` in a /metrics page whose labels include
    ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        if head.split("{", 1)[0] == name and all(
            f'{key}="{val}"' in head for key, val in labels.items()
        ):
            total += float(value)
    return total


def worker_env(bootstrap: str, prefix: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a worker isolated by topic prefix, app id, port and data folder."""
    env = dict(os.environ)
    env.update(
        LATITUDE_KAFKA_BOOTSTRAP=bootstrap,
        LATITUDE_TOPIC_PREFIX=f"{prefix}.",
        LATITUDE_APP_ID=prefix,
        LATITUDE_WEB_PORT=str(free_port()),
        LATITUDE_DATA_DIR=str(data_dir),
        LATITUDE_TOPIC_PARTITIONS="2",
        LATITUDE_LOG_LEVEL="info",
    )
    env.update(extra)
    return env
