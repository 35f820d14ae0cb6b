"""Benchmark (not a test): decode-only versus decode + Engine.apply, in the same run.

Pre-encodes a realistic stream as JSON bytes (all event types, ~1,000 reps in ~100 teams,
~50,000 deals over 90 days, some notes logged days late, ~1 % duplicates), then times

  (a) decode only:           the boundary decoder on every record;
  (b) decode + engine:       the same, plus ``Engine.apply``;

and prints events/s on one core for both and their ratio. Targets: (b) >= 100,000
events/s and (b) costing at most 4x (a).

    .venv/bin/python bench/bench_engine.py [--events 1000000] [--repeat 3] [--seed 1]
                                           [--gc worker|default] [--profile]

Times are CPU time of this process (``time.process_time``), best of ``--repeat`` runs,
so other load on the machine does not inflate them (it still does somewhat: the 2 cores
are shared, so compare figures from the same run or minute).

Garbage collection: by default (``--gc worker``) the collector is set up as the worker
sets it up at start-up (agents/cli.py ``run_worker``: ``gc.freeze()`` and
``gc.set_threshold(GC_THRESHOLD, 50, 50)``), and the output says so; ``--gc default``
measures Python's default thresholds (700, 10, 10). The stage states are msgspec Structs
with ``gc=False``, but the dicts and lists inside them are tracked, so each full
collection walks all state; collection time is counted in both modes.
"""

from __future__ import annotations

import argparse
import gc
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

# Run as a script, the script's folder (bench/) comes first on the path, and its
# profile.py would shadow the standard library's profile module, which cProfile imports:
# put the standard library first, then the repository root.
sys.path.insert(0, sysconfig.get_paths()["stdlib"])
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from agents.cli import GC_THRESHOLD
from bench.corpus import Stream
from schemas.events import Event
from streams.engine import Engine
from streams.policy_model import default_policy


def decoder() -> Callable[[bytes], Any]:
    """The boundary decoder: schemas.decode.decode when present, else msgspec's."""
    try:
        from schemas.decode import decode

        return decode
    except ImportError:  # pragma: no cover - before schemas/decode.py existed
        return msgspec.json.Decoder(Event).decode


def timed(run: Callable[[], object]) -> float:
    """CPU seconds of ``run`` (process time: other processes on the machine do not count;
    this is the cost on one core)."""
    gc.collect()
    start = time.process_time()
    run()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of each")
    parser.add_argument("--profile", action="store_true", help="cProfile decode + engine")
    parser.add_argument("--gc", choices=("worker", "default"), default="worker",
                        help="collector set up as the worker does (freeze, threshold "
                             f"{GC_THRESHOLD:,}, 50, 50) or Python's default thresholds")
    args = parser.parse_args()
    if args.gc == "worker":
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, 50, 50)
    print(f"gc: {args.gc} (thresholds {gc.get_threshold()}"
          f"{', start-up objects frozen' if args.gc == 'worker' else ''})")

    started = time.process_time()
    records = Stream(args.events, args.seed).records(args.events)
    size = sum(map(len, records))
    print(f"{len(records):,} events, {size / len(records):.0f} bytes each on average, "
          f"built in {time.process_time() - started:.1f} s")
    decode = decoder()

    def decode_only() -> None:
        for raw in records:
            decode(raw)

    outcomes: dict[str, int] = {}

    def decode_and_apply() -> Engine:
        engine = Engine(default_policy())
        apply = engine.apply
        outcomes.clear()
        for raw in records:
            outcome = apply(decode(raw)).outcome
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return engine

    t_decode = min(timed(decode_only) for _ in range(args.repeat))
    engines: list[Engine] = []
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        t_engine = timed(lambda: engines.append(profiler.runcall(decode_and_apply)))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    else:
        t_engine = float("inf")
        for _ in range(args.repeat):
            engines.clear()  # free the previous run's state before timing the next
            t_engine = min(t_engine, timed(lambda: engines.append(decode_and_apply())))
    engine = engines[-1]
    n = len(records)
    print(f"outcomes: {outcomes}; violations pending: {len(engine.pending_violations())}")
    print(f"decode only:       {n / t_decode:>12,.0f} events/s per core ({t_decode:.2f} s CPU)")
    print(f"decode + engine:   {n / t_engine:>12,.0f} events/s per core ({t_engine:.2f} s CPU)")
    print(f"ratio (decode+engine time / decode time): {t_engine / t_decode:.2f}x "
          f"(target <= 4x; engine alone {(t_engine - t_decode) / n * 1e6:.2f} µs/event)")
    started = time.process_time()
    teams = engine.teams()
    for team in teams:
        engine.team_kpis(team)
    for rep in engine.reps():
        engine.rep_kpis(rep)
    print(f"read: KPIs of {len(teams)} teams and {len(engine.reps())} reps in "
          f"{time.process_time() - started:.2f} s CPU")


if __name__ == "__main__":
    main()
