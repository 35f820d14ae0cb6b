"""``python -m bench``: the benchmark suite against a real local broker (README,
Benchmarks). Prints the results table and writes it as markdown under bench/results/."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from bench.report import markdown_table, text_table
from bench.suite import Options, Results, bootstrap_from_env, run

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_EVENTS = 20_000
# Open deals fed for the memory figure unless --open-deals says otherwise: at the
# product's rate at the default sizes (about 1,300 events/s) the target's 1,000,000 would
# add over 12 minutes, and their rebuild from changelogs more; the figure at 1,000,000
# is extrapolated.
DEFAULT_OPEN_DEALS = 200_000
CONTENDERS = ("raw", "product", "naive", "quix")
ONLY = (*CONTENDERS, "latency")  # latency: the product's throughput, then its latency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="pre-produced corpus size (default 1,000,000)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK_EVENTS:,} events unless --events is given")
    parser.add_argument("--reps", type=int, default=0,
                        help="reps in the corpus (default: one per 100 events, 10,000 at 1M)")
    parser.add_argument("--open-deals", type=int, default=0,
                        help="open deals added for the memory figure, with an estimate at "
                        f"1,000,000 (default {DEFAULT_OPEN_DEALS:,}; --quick: its events)")
    parser.add_argument("--memory-reps", type=int, default=10_000,
                        help="reps the open deals belong to (default 10,000, whatever the "
                        "corpus has: the memory target's sizing)")
    parser.add_argument("--baseline-events", type=int, default=Options.baseline_events,
                        help="the corpus's first N events are what naive Faust and Quix "
                        f"Streams consume (default {Options.baseline_events:,}; 0: all)")
    parser.add_argument("--latency-seconds", type=float, default=30.0,
                        help="timed part of each latency run (paced input)")
    parser.add_argument("--latency-warmup-seconds", type=float, default=10.0,
                        help="paced input before the timed part, not timed")
    parser.add_argument("--profile-seconds", type=float, default=60.0,
                        help="py-spy sampling of the worker during its throughput run (0: off)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="give up on a phase after this many seconds")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (broker data, worker logs, profile)")
    parser.add_argument("--note", default="", help="a line for the results file (machine load)")
    parser.add_argument("--only", default="",
                        help=f"comma-separated parts to run ({', '.join(ONLY)}): contenders' "
                        "throughput only (latency: the product's, then its latency at half of "
                        "it), nothing written to bench/results")
    args = parser.parse_args(argv)
    only = frozenset(name.strip() for name in args.only.split(",") if name.strip()) or None
    if only is not None and not only <= set(ONLY):
        parser.error(f"--only: unknown part(s) {', '.join(sorted(only - set(ONLY)))}")
    events = QUICK_EVENTS if args.quick and args.events == 1_000_000 else args.events
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="latitude-bench-")
    try:
        options = Options(
            events=events, reps=args.reps or max(10, events // 100),
            open_deals=args.open_deals or (events if args.quick else DEFAULT_OPEN_DEALS),
            memory_reps=args.memory_reps,
            baseline_events=args.baseline_events,
            latency_seconds=args.latency_seconds,
            latency_warmup_seconds=args.latency_warmup_seconds,
            timeout=args.timeout, profile_seconds=args.profile_seconds, work_dir=Path(work),
            bootstrap=bootstrap_from_env(dict(os.environ)), only=only,
        )
        results = run(options)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    print("\n" + text_table(results.rows))
    if results.profile:
        print("\nproduct worker hot spots (py-spy):\n" + text_table(results.profile))
    if only is not None:
        print(f"\n--only {args.only}: not written to bench/results ({minutes:.1f} min)")
        return 0
    path = write_markdown(results, options, minutes, args.note)
    print(f"\nwritten to {path} ({minutes:.1f} min)")
    return 0


def write_markdown(results: Results, options: Options, minutes: float, note: str) -> Path:
    """bench/results/<date>-<events>-events.md: the table, the hot spots and how it was
    run (``-2``, ``-3``... after the stem for a day's later runs of the same size)."""
    RESULTS.mkdir(exist_ok=True)
    today = dt.date.today().isoformat()
    path = unused_path(RESULTS, f"{today}-{options.events}-events")
    lines = [
        f"# Benchmark suite, {today}", "",
        f"`python -m bench --events {options.events} --open-deals {options.open_deals} "
        f"--baseline-events {options.baseline_events}` on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, local Kafka broker "
        f"(deploy/kafka/kafka.sh); {minutes:.1f} min in all.", "",
    ]
    if note:
        lines += [note, ""]
    lines += [markdown_table(results.rows), ""]
    if results.profile:
        lines += ["## Product worker hot spots (py-spy, during the throughput run)", "",
                  markdown_table(results.profile), ""]
    lines += ["## Log", "", *(f"- {n}" for n in results.notes), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def unused_path(directory: Path, stem: str) -> Path:
    """``directory/stem.md``, or the first of ``stem-2.md``, ``stem-3.md``... not taken:
    a run never overwrites an earlier one's results."""
    path, n = directory / f"{stem}.md", 1
    while path.exists():
        n += 1
        path = directory / f"{stem}-{n}.md"
    return path


if __name__ == "__main__":
    raise SystemExit(main())
