"""``latitude simulate`` and ``latitude replay``: argument parsers and entry points.

The lead wires them into the ``latitude`` command::

    simulate = commands.add_parser("simulate", help="produce a persona-driven scenario")
    add_simulate_arguments(simulate)          # then: simulate_main(args)
    replay = commands.add_parser("replay", help="backfill from CRM exports")
    add_replay_arguments(replay)              # then: replay_main(args)

Both produce to the input topics of the configured cluster (``LATITUDE_*`` settings:
bootstrap servers, topic prefix, TLS/SASL), creating missing topics first. Each record
is keyed by its record id (the rep id on the compacted ``crm.reps``).
``python -m simulator.cli simulate|replay ...`` runs them without the lead's wiring.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from simulator.feed import Injected, Record
from simulator.mapping import MappingError, load_mapping
from simulator.personas import DEFAULT_MIX, PERSONAS
from simulator.progress import Progress
from simulator.replay import ReplayError, replay_csv, replay_jsonl
from simulator.scenario import DEFAULT_START, generate, stream

# --------------------------------------------------------------------------- simulate

def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``latitude simulate``."""
    parser.add_argument("--seed", type=int, default=7, help="scenario seed (default 7)")
    parser.add_argument("--teams", type=int, default=2, help="number of teams (default 2)")
    parser.add_argument("--reps-per-team", type=int, default=4, help="reps per team (default 4)")
    parser.add_argument("--days", type=int, default=90, help="scenario length (default 90)")
    parser.add_argument("--start", default=None,
                        help="first day, YYYY-MM-DD, or 'today' (default: "
                             f"{DEFAULT_START.date()} when compressed, today when live)")
    parser.add_argument(
        "--personas", default=";".join(",".join(team) for team in DEFAULT_MIX),
        help="persona names per team, teams separated by ';', cycled over teams and reps "
             f"(default %(default)s; known: {', '.join(PERSONAS)})")
    parser.add_argument("--activity", type=float, default=1.0,
                        help="scales notes, leads and renegotiations (default 1.0)")
    parser.add_argument("--pace", choices=("compressed", "live"), default="compressed",
                        help="compressed: as fast as --rate allows; live: each event at its "
                             "time from now, --speed times faster than real time")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="compressed pace: records per second (0: as fast as possible)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="live pace: how many times faster than real time (default 1)")
    parser.add_argument("--bad-every", type=int, default=0, metavar="N",
                        help="insert a broken record after every N records")
    parser.add_argument("--duplicate-every", type=int, default=0, metavar="N",
                        help="send every N-th event twice")
    parser.add_argument("--late-every", type=int, default=0, metavar="N",
                        help="deliver every N-th event 8 days after its time (beyond the "
                             "lateness bound: dead-lettered as late)")
    parser.add_argument("--out", metavar="FILE",
                        help="write JSON lines to FILE ('-': stdout) instead of Kafka")


def simulate_main(args: argparse.Namespace) -> int:
    """Generate the scenario and send it to Kafka (or ``--out``); 0 on success."""
    try:
        start = _start(args.start or ("today" if args.pace == "live" else
                                      DEFAULT_START.date().isoformat()))
        mix = [tuple(n.strip() for n in team.split(",") if n.strip())
               for team in args.personas.split(";") if team.strip()]
        events = generate(args.seed, teams=args.teams, reps_per_team=args.reps_per_team,
                          days=args.days, start=start, mix=mix, activity=args.activity)
    except (KeyError, ValueError) as error:
        print(f"latitude simulate: {error}", file=sys.stderr)
        return 2
    injected = Injected()
    records = stream(events, pace=args.pace, rate=args.rate, speed=args.speed,
                     bad_every=args.bad_every, duplicate_every=args.duplicate_every,
                     late_every=args.late_every, injected=injected)
    try:
        sent, target = _deliver(records, args.out)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the cluster or the settings: report, do not trace
        print(f"latitude simulate: cannot deliver: {error}", file=sys.stderr)
        return 1
    print(f"latitude simulate: {sent} records to {target}: {len(events)} events, "
          f"{injected.bad} broken, {injected.duplicates} duplicates, {injected.late} late",
          file=sys.stderr)
    return 0


def _start(text: str) -> dt.datetime:
    if text == "today":  # the CLI may read the clock; generate() never does
        return dt.datetime.now(dt.UTC)
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)


# ----------------------------------------------------------------------------- replay

def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``latitude replay``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--jsonl", metavar="FILE", help="JSON lines, one event per line")
    source.add_argument("--csv", metavar="FILE", help="a CSV opportunity export")
    parser.add_argument("--mapping", metavar="FILE",
                        help="column mapping of the CSV (see deploy/replay/*.mapping.yaml)")
    parser.add_argument("--history", metavar="FILE",
                        help="stage-history export of the same deals (OpportunityHistory)")
    parser.add_argument("--date-order", choices=("dmy", "mdy"),
                        help="how the CSV writes numeric dates (default: the mapping's)")
    parser.add_argument("--dry-run", action="store_true",
                        help="map and validate only: print the report, produce nothing")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when any row was rejected")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="records per second to produce (0: as fast as possible)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar (it is drawn only on a terminal anyway)")
    parser.add_argument("--show", type=int, default=100, metavar="N",
                        help="list at most N problems in the report (default 100)")
    parser.add_argument("--out", metavar="FILE",
                        help="write the mapped events as JSON lines to FILE instead of Kafka")


def replay_main(args: argparse.Namespace) -> int:
    """Map an export to events, print the report, produce the events unless ``--dry-run``.

    Exit status: 2 when the input cannot be read at all, 1 when rows were rejected and
    ``--strict`` is given, else 0.
    """
    progress = None if args.quiet or not sys.stderr.isatty() else _progress_bar
    try:
        if args.jsonl:
            events, report = replay_jsonl(args.jsonl, progress=progress)
        else:
            if not args.mapping:
                raise MappingError("--csv needs --mapping FILE")
            events, report = replay_csv(args.csv, load_mapping(args.mapping),
                                        history=args.history, date_order=args.date_order,
                                        progress=progress)
    except (MappingError, ReplayError, OSError) as error:
        print(f"latitude replay: {error}", file=sys.stderr)
        return 2
    print(report.summary(limit=args.show))
    if not args.dry_run:
        records = stream(events, rate=args.rate)
        try:
            sent, target = _deliver(records, args.out)
        except KeyboardInterrupt:
            return 130
        except Exception as error:  # the cluster or the settings: report, do not trace
            print(f"latitude replay: cannot deliver: {error}", file=sys.stderr)
            return 1
        print(f"latitude replay: {sent} events to {target}", file=sys.stderr)
    return 1 if args.strict and report.rejected else 0


def _progress_bar(label: str, total: int) -> Progress:
    return Progress(f"replay {label}", total)


# --------------------------------------------------------------------------- delivery

def _deliver(records: Iterable[Record], out: str | None) -> tuple[int, str]:
    """Send records to ``out`` (JSON lines) or to Kafka; how many, and where."""
    if out == "-":
        return _write_lines(records, sys.stdout), "stdout"
    if out:
        with open(out, "w", encoding="utf-8", newline="\n") as file:
            return _write_lines(records, file), out
    return produce(records)


def _write_lines(records: Iterable[Record], file: TextIO) -> int:
    sent = 0
    for _, _, value in records:
        file.write(value.decode("utf-8", errors="replace") + "\n")
        sent += 1
    return sent


def produce(records: Iterable[Record]) -> tuple[int, str]:
    """Produce records to the configured cluster's input topics (created when missing)."""
    from kafka import KafkaProducer

    from agents.kafka_config import kafka_python_security
    from agents.settings import Settings
    from agents.topics import MAX_RECORD_BYTES, ensure_topics

    settings = Settings.load()
    ensure_topics(settings)
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, max_request_size=MAX_RECORD_BYTES,
        linger_ms=20, **kafka_python_security(settings),
    )
    sent = 0
    try:
        for family, key, value in records:
            producer.send(settings.topic(family), key=key, value=value)
            sent += 1
    finally:
        producer.flush()
        producer.close()
    return sent, settings.kafka_bootstrap


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simulator.cli simulate|replay ...``."""
    parser = argparse.ArgumentParser(prog="simulator")
    commands = parser.add_subparsers(dest="command", required=True)
    add_simulate_arguments(commands.add_parser("simulate", help="produce a scenario"))
    add_replay_arguments(commands.add_parser("replay", help="backfill from CRM exports"))
    args = parser.parse_args(argv)
    return simulate_main(args) if args.command == "simulate" else replay_main(args)


if __name__ == "__main__":
    sys.exit(main())
