"""Real Prometheus and Alertmanager (Debian's packages) on free loopback ports, and
webhook receivers that record what Alertmanager sends, for the e2e alerting test."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.tools import require_tool
from tests.worker_process import free_port, wait_for

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "rules"


class WebhookReceiver:
    """An HTTP server in a thread keeping every Alertmanager webhook payload it gets."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        lock = threading.Lock()
        received = self.payloads

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every alert of every notification so far (``status``: firing / resolved)."""
        found = [alert for payload in list(self.payloads) for alert in payload["alerts"]]
        return [a for a in found if status is None or a["status"] == status]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Daemon:
    """A Prometheus or Alertmanager child process on a loopback port."""

    args: list[str]
    port: int
    log_path: Path
    ready_path: str
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(self._ready, timeout, f"{self.args[0]} ready (log: {self.log_path})")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{self.args[0]} exited early:\n{tail}")
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_alertmanager(config: Path, workdir: Path) -> Daemon:
    """Alertmanager with ``config``, its own data dir and no cluster listener."""
    port = free_port()
    daemon = Daemon(
        [
            require_tool("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={workdir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # a single instance: no gossip port to collide on
        ],
        port,
        workdir / "alertmanager.log",
        "/-/ready",
    )
    daemon.start()
    return daemon


def short_rules(target: Path, for_duration: str, violation_window: str) -> list[Path]:
    """Copies of deploy/prometheus/rules/*.yml for a test that cannot wait for
    production durations: every alert's ``for:`` becomes ``for_duration`` and the
    15-minute window of LatitudeRepCriticalViolation becomes ``violation_window``.
    Expressions, labels and annotations are otherwise the deployed ones."""
    target.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in sorted(RULES.glob("*.yml")):
        rules = yaml.safe_load(path.read_text("utf-8"))
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = for_duration
                if rule.get("alert") == "LatitudeRepCriticalViolation":
                    rule["expr"] = re.sub(r"\[15m\]", f"[{violation_window}]", rule["expr"])
        copy = target / path.name
        copy.write_text(yaml.safe_dump(rules, sort_keys=False), "utf-8")
        copies.append(copy)
    return copies


def start_prometheus(
    workdir: Path, targets: list[str], rule_files: list[Path], alertmanager: str
) -> Daemon:
    """Prometheus scraping ``targets`` every second and evaluating ``rule_files``."""
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "latitude",
                "static_configs": [{"targets": targets, "labels": {"service": "latitude"}}],
            }
        ],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    daemon = Daemon(
        [
            require_tool("prometheus"),
            f"--config.file={path}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        port,
        workdir / "prometheus.log",
        "/-/ready",
    )
    daemon.start()
    return daemon


def instant_query(prometheus: Daemon, expr: str) -> list[dict[str, Any]]:
    """The result vector of ``expr`` now (HTTP API /api/v1/query); fails on an error."""
    url = prometheus.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{expr}: {error.read().decode()}") from None
    assert body["status"] == "success", (expr, body)
    result = body["data"]["result"]
    return result if isinstance(result, list) else [{"value": result}]
