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
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local_kafka import (
    BOOTSTRAP_ENV,
    BrokerStartError,
    KafkaBroker,
    broker_answers,
    start_local_broker,
)

__all__ = ["KafkaBroker"]

# An external cluster is either up or not: do not make a typo cost half a minute.
EXTERNAL_ANSWER_TIMEOUT_S = 10


def _start_local_broker(data_dir: Path) -> KafkaBroker:
    """Start kafka.sh on free ports; a failure fails the session with its reason."""
    try:
        return start_local_broker(data_dir)
    except BrokerStartError as error:
        pytest.fail(str(error), pytrace=False)


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
