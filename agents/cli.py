"""The ``latitude`` command: worker, local Kafka, simulator, replay and the one-command demo."""

from __future__ import annotations

import argparse
import gc
import logging
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from agents.settings import Settings, SettingsError

GC_THRESHOLD = 50_000
KAFKA_SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "kafka.sh"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``latitude`` console script."""
    parser = argparse.ArgumentParser(prog="latitude", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("worker", help="run a stream-processing worker")
    kafka = commands.add_parser("kafka", help="manage the local single-node Kafka broker")
    kafka.add_argument("action", choices=["start", "stop", "status", "fetch"])
    run = commands.add_parser("run", help="the demo: local Kafka, worker, simulator, until Ctrl-C")
    run.add_argument("--rate", type=float, default=20.0, help="simulated records per second")
    run.add_argument("--teams", type=int, default=2, help="simulated teams")
    from simulator.cli import add_replay_arguments, add_simulate_arguments

    add_simulate_arguments(
        commands.add_parser("simulate", help="produce realistic CRM activity (personas)")
    )
    add_replay_arguments(
        commands.add_parser("replay", help="backfill from JSON lines or CSV CRM exports")
    )
    commands.add_parser(
        "alertmanager-config",
        help="generate the Alertmanager configuration from a roster",
        add_help=False,
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "alertmanager-config":
        from agents.alert_routing import main as alertmanager_config

        return alertmanager_config(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        settings = Settings.load()
    except SettingsError as error:
        print(f"latitude: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    if args.command == "worker":
        return run_worker(settings)
    if args.command == "kafka":
        return subprocess.call(["bash", str(KAFKA_SCRIPT), args.action])
    if args.command in {"simulate", "replay"}:
        from simulator.cli import replay_main, simulate_main

        return (simulate_main if args.command == "simulate" else replay_main)(args)
    from agents.local_run import run_everything

    return run_everything(settings, teams=args.teams, rate=args.rate)


def run_worker(settings: Settings) -> int:
    """Create missing topics, then run the Faust worker until it is stopped."""
    from agents.app import Latitude
    from agents.local_state import close_local_state, open_local_state
    from agents.malloc_threshold import fix_mmap_threshold
    from agents.topics import ensure_topics

    if settings.malloc_mmap_threshold_kb:
        fix_mmap_threshold(settings.malloc_mmap_threshold_kb)
    ensure_topics(settings)
    latitude = Latitude(settings)
    # Stage states are many small long-lived objects: the default young-generation
    # threshold makes the collector rescan them over and over (bench/bench_engine.py).
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 50)
    latitude.app.task(restore_log_level(settings.log_level))
    table_dir = Path(latitude.app.conf.tabledir)
    open_local_state(table_dir)
    sys.argv = [sys.argv[0], "worker", "--loglevel", settings.log_level]
    try:
        latitude.app.main()
    except SystemExit as stop:
        if stop.code in (0, None):
            close_local_state(table_dir)
        raise
    close_local_state(table_dir)
    return 0


def restore_log_level(level: str) -> Callable[[], Awaitable[None]]:
    """A start-up task that sets the root logger back to ``level``. At WARN and above,
    Faust's worker sets it to DEBUG for its start-up spinner and leaves it there, so
    every debug call of aiokafka and Faust (several per message) builds a record that
    the handlers then drop: 11 % of the worker's CPU in the benchmark suite."""

    async def restore() -> None:
        logging.getLogger().setLevel(level.upper())

    return restore


if __name__ == "__main__":
    sys.exit(main())
