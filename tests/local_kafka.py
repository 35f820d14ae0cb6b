"""Start, probe and stop a single-node Kafka broker with deploy/kafka/kafka.sh.

Shared by the test session's broker fixture (tests/kafka_broker.py) and the benchmark
suite (bench/), so neither needs pytest to get a broker on free loopback ports.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"
BOOTSTRAP_ENV = "LATITUDE_KAFKA_BOOTSTRAP"
# kafka.sh's own start deadline is 60 s; the first run also fetches jars from Maven.
SCRIPT_TIMEOUT_S = 600
ANSWER_TIMEOUT_S = 30
EXIT_TOOL_MISSING = 2


class BrokerStartError(RuntimeError):
    """kafka.sh could not start a broker; ``tool_missing`` when java or mvn is absent."""

    def __init__(self, message: str, *, tool_missing: bool = False) -> None:
        super().__init__(message)
        self.tool_missing = tool_missing


@dataclass(frozen=True)
class KafkaBroker:
    """A broker: its bootstrap address, and for a local one, how to reach it with
    kafka.sh (``env``) and where its files are (``data_dir``)."""

    bootstrap: str
    data_dir: Path | None = None
    env: dict[str, str] | None = None

    @property
    def is_local(self) -> bool:
        """True when this process started the broker itself with kafka.sh."""
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
    from kafka import KafkaAdminClient

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


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so they cannot repeat)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def start_local_broker(data_dir: Path, **env: str) -> KafkaBroker:
    """Start kafka.sh on free ports, retrying once if another process grabbed them.
    ``env`` adds kafka.sh settings (``LATITUDE_KAFKA_HEAP`` ...)."""
    result = None
    for _attempt in range(2):
        port, controller_port = free_ports(2)
        broker = KafkaBroker(
            f"127.0.0.1:{port}",
            data_dir,
            {
                **os.environ,
                "LATITUDE_KAFKA_DATA": str(data_dir),
                "LATITUDE_KAFKA_PORT": str(port),
                "LATITUDE_KAFKA_CONTROLLER_PORT": str(controller_port),
                **env,
            },
        )
        result = broker.script("start")
        if result.returncode == 0:
            return broker
        if result.returncode == EXIT_TOOL_MISSING:
            raise BrokerStartError(
                f"cannot start the Kafka broker: {result.stderr.strip()}", tool_missing=True
            )
        if "already in use" not in result.stderr + result.stdout:
            break
    assert result is not None
    raise BrokerStartError(
        f"kafka.sh start failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
