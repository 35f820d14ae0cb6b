"""Pytest plugin: one real Kafka broker for the whole test session.

Loaded from tests/conftest.py (``pytest_plugins = ["tests.kafka_broker"]``).

* ``kafka_bootstrap`` -- "host:port" of a broker that answers. With
  ``LATITUDE_KAFKA_BOOTSTRAP`` set, that cluster is used as is; otherwise
  deploy/kafka/kafka.sh starts a fresh single-node broker on free loopback ports with
  a temporary data dir, and stops it when the session ends (interrupted or not).
* ``unique_topic_prefix`` -- a topic-name prefix unique to the test, so tests sharing
  the session broker never see each other's records.

A missing java or mvn fails the fixture with the install hint: integration tests are
never skipped for want of a broker.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"
BOOTSTRAP_ENV = "LATITUDE_KAFKA_BOOTSTRAP"
# kafka.sh's own start deadline is 60 s; the first run also fetches jars from Maven.
SCRIPT_TIMEOUT_S = 600
ANSWER_TIMEOUT_S = 30
# An external cluster is either up or not: do not make a typo cost half a minute.
EXTERNAL_ANSWER_TIMEOUT_S = 10
EXIT_TOOL_MISSING = 2


@dataclass(frozen=True)
class KafkaBroker:
    """The session's broker: its bootstrap address, and for a local one, how to reach
    it with kafka.sh (``env``) and where its files are (``data_dir``)."""

    bootstrap: str
    data_dir: Path | None = None
    env: dict[str, str] | None = None

    @property
    def is_local(self) -> bool:
        """True when this session started the broker itself with kafka.sh."""
        return self.data_dir is not None

    def script(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run ``kafka.sh <command>`` against this broker and return its result."""
        return subprocess.run(
            ["bash", str(KAFKA_SH), command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )


def broker_answers(bootstrap: str, timeout_s: float = ANSWER_TIMEOUT_S) -> str | None:
    """Return None once the cluster at ``bootstrap`` answers a metadata request, else
    the last error seen before ``timeout_s`` ran out."""
    from kafka import KafkaAdminClient  # imported late: the plugin loads for unit runs too

    deadline = time.monotonic() + timeout_s
    error = "no attempt made"
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                client_id="latitude-tests-probe",
                request_timeout_ms=5000,
                bootstrap_timeout_ms=5000,
            )
            try:
                admin.describe_cluster()
            finally:
                admin.close()
            return None
        except Exception as exc:  # any failure means "not answering yet"
            error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
    return error


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so they cannot repeat)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _start_local_broker(data_dir: Path) -> KafkaBroker:
    """Start kafka.sh on free ports, retrying once if another process grabbed them."""
    result = None
    for _attempt in range(2):
        port, controller_port = _free_ports(2)
        env = {
            **os.environ,
            "LATITUDE_KAFKA_DATA": str(data_dir),
            "LATITUDE_KAFKA_PORT": str(port),
            "LATITUDE_KAFKA_CONTROLLER_PORT": str(controller_port),
        }
        broker = KafkaBroker(f"127.0.0.1:{port}", data_dir, env)
        result = broker.script("start")
        if result.returncode == 0:
            return broker
        if result.returncode == EXIT_TOOL_MISSING:
            pytest.fail(
                f"cannot start the test Kafka broker: {result.stderr.strip()}", pytrace=False
            )
        if "already in use" not in result.stderr + result.stdout:
            break
    assert result is not None
    pytest.fail(
        f"kafka.sh start failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}",
        pytrace=False,
    )


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while the broker runs, so a terminated
    pytest still tears its fixtures down (the broker is in its own session and would
    otherwise outlive it)."""
    installed = False
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

            def _raise(signum: int, frame: object) -> None:
                raise KeyboardInterrupt(f"signal {signum}")

            signal.signal(signal.SIGTERM, _raise)
            installed = True
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """The session's Kafka broker (external via LATITUDE_KAFKA_BOOTSTRAP, or local)."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        error = broker_answers(external, EXTERNAL_ANSWER_TIMEOUT_S)
        if error is not None:
            pytest.fail(
                f"{BOOTSTRAP_ENV}={external} does not answer ({error}); start it, or unset "
                f"{BOOTSTRAP_ENV} to let the tests start their own broker",
                pytrace=False,
            )
        yield KafkaBroker(external)
        return

    broker = _start_local_broker(tmp_path_factory.mktemp("kafka"))
    # Safety net for exits that skip fixture teardown; stopping twice is harmless.
    atexit.register(broker.script, "stop")
    try:
        with _sigterm_as_interrupt():
            error = broker_answers(broker.bootstrap)
            if error is not None:
                pytest.fail(
                    f"broker {broker.bootstrap} started but does not answer: {error}",
                    pytrace=False,
                )
            yield broker
    finally:
        stopped = broker.script("stop")
        atexit.unregister(broker.script)
        if stopped.returncode != 0:
            pytest.fail(f"kafka.sh stop failed:\n{stopped.stdout}\n{stopped.stderr}")


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """Bootstrap address ("host:port") of a Kafka cluster that answers."""
    return kafka_broker.bootstrap


@pytest.fixture
def unique_topic_prefix(request: pytest.FixtureRequest) -> str:
    """A topic-name prefix unique to this test, e.g. ``t-test-roundtrip-1a2b3c4d``."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    return f"t-{slug}-{uuid.uuid4().hex[:8]}"
