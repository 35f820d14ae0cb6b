"""Benchmark (not a test): decode-only versus decode + Engine.apply, in the same run.

Pre-encodes a realistic stream as JSON bytes (all event types, ~1,000 reps in ~100 teams,
~50,000 deals over 90 days, some notes logged days late, ~1 % duplicates), then times

  (a) decode only:           the boundary decoder on every record;
  (b) decode + engine:       the same, plus ``Engine.apply``;

and prints events/s on one core for both and their ratio. Targets: (b) >= 100,000
events/s and (b) costing at most 4x (a).

    .venv/bin/python bench/bench_engine.py [--events 1000000] [--repeat 3] [--seed 1]
                                           [--gc-threshold 50000] [--profile]

Times are CPU time of this process (``time.process_time``), best of ``--repeat`` runs,
so other load on the machine does not inflate them (it still does somewhat: the 2 cores
are shared, so compare figures from the same run or minute).

Garbage collection: the worker (agents/) runs with Python's default thresholds, so that
is the default here. The stage states are msgspec Structs with ``gc=False``, but the
dicts and lists inside them are tracked, so each full collection walks all state; with
``--gc-threshold 100000`` (what a worker calling ``gc.set_threshold(100000, 20, 100)``
at start-up would get) collections are ~140x rarer, worth ~10-20 % of engine time here.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import pstats
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.events import Event
from streams.engine import Engine
from streams.policy_model import default_policy

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAYS = 90
STAGES = ("prospecting", "qualification", "proposal", "negotiation")
BODIES = ("n/a", "call", "Discussed pricing and next steps with the CFO.",
          "Follow-up meeting booked with procurement for next Tuesday.",
          "Sent the revised proposal; legal review pending on their side.")


def decoder() -> Callable[[bytes], Any]:
    """The boundary decoder: schemas.decode.decode when present, else msgspec's."""
    try:
        from schemas.decode import decode

        return decode
    except ImportError:  # pragma: no cover - before schemas/decode.py existed
        return msgspec.json.Decoder(Event).decode


class Stream:
    """Builds the event dicts; ``records`` returns them encoded, in arrival order."""

    def __init__(self, n_events: int, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.n_reps = max(10, n_events // 1000)
        self.n_deals = max(50, n_events // 20)
        self.reps = [f"rep-{i:04d}" for i in range(self.n_reps)]
        self.teams = [f"team-{i:03d}" for i in range(max(1, self.n_reps // 10))]
        self.items: list[tuple[float, dict[str, Any]]] = []
        self.serial = 0

    def at(self, day: float) -> str:
        return (START + dt.timedelta(days=day)).isoformat()

    def add(self, type_name: str, day: float, delay: float = 0.0, **fields: Any) -> None:
        self.serial += 1
        event = {"type": type_name, "event_id": f"ev-{self.serial:08d}", "schema_version": 1,
                 "occurred_at": self.at(day), "source": "bench", **fields}
        self.items.append((day + delay, event))

    def roster_and_quotas(self) -> None:
        for i, rep in enumerate(self.reps):
            self.add("rep.updated", 0.0, rep_id=rep, team=self.teams[i % len(self.teams)],
                     region="emea", manager_id=f"mgr-{i % len(self.teams)}",
                     tier=self.rnd.choice(("junior", "senior", "principal")), active=True)
            for period in ("2026-Q1", "2026-Q2"):
                self.add("quota.set", 0.001, rep_id=rep, period=period,
                         amount=float(self.rnd.choice((300_000, 600_000, 900_000))),
                         currency="EUR")

    def deal(self, n: int) -> None:
        rnd = self.rnd
        deal_id, account = f"deal-{n:06d}", f"acct-{n % (self.n_deals // 3):06d}"
        rep = rnd.choice(self.reps)
        day = rnd.uniform(0, DAYS - 10)
        created = self.at(day)
        close = (START + dt.timedelta(days=day + rnd.randint(20, 120))).date()
        amount = float(rnd.choice((5_000, 20_000, 60_000, 150_000, 400_000)))
        stage = 0
        for _ in range(rnd.randint(3, 9)):
            if rnd.random() < 0.03:
                rep = rnd.choice(self.reps)
            if rnd.random() < 0.2:
                close += dt.timedelta(days=rnd.randint(5, 30))
            if rnd.random() < 0.5 and stage < 3:
                stage += 2 if rnd.random() < 0.05 and stage < 2 else 1
            self.add("deal.updated", day, deal_id=deal_id, account_id=account, rep_id=rep,
                     stage=STAGES[stage], amount=amount, currency="EUR",
                     expected_close_date=close.isoformat(), created_at=created,
                     next_step="demo", decision_maker="CFO",
                     kind="expansion" if n % 4 == 0 else "new_business")
            self.note(day + rnd.uniform(0, 2), rep, account, deal_id)
            day += rnd.uniform(0.5, 8)
            if day >= DAYS:
                return
        if rnd.random() < 0.6:
            self.add("deal.updated", day, deal_id=deal_id, account_id=account, rep_id=rep,
                     stage=rnd.choice(("closed_won", "closed_lost")), amount=amount,
                     currency="EUR", expected_close_date=close.isoformat(),
                     created_at=created, kind="new_business")

    def note(self, day: float, rep: str, account: str, deal: str | None) -> None:
        if day < DAYS:
            late = self.rnd.uniform(0, 3) if self.rnd.random() < 0.1 else 0.0
            self.add("note.logged", day, late, note_id=f"n-{self.serial}", account_id=account,
                     deal_id=deal, rep_id=rep, body=self.rnd.choice(BODIES))

    def activity(self, n_events: int) -> None:
        rnd = self.rnd
        while len(self.items) < n_events * 0.99:
            rep, day = rnd.choice(self.reps), rnd.uniform(0, DAYS)
            deal = f"deal-{rnd.randrange(self.n_deals):06d}"
            kind = rnd.random()
            if kind < 0.25:
                pct = rnd.choice((5.0, 8.0, 12.0, 15.0, 22.0, 35.0, 45.0))
                approval = f"ap-{self.serial}" if rnd.random() < 0.3 else None
                if approval:
                    self.add("approval.requested", day - 0.1, approval_id=approval,
                             deal_id=deal, rep_id=rep, requested_discount_pct=pct)
                    self.add("approval.decided", day - 0.05, approval_id=approval,
                             deal_id=deal, rep_id=rep, decided_by="mgr",
                             decision=rnd.choice(("approved", "approved", "rejected")))
                self.add("discount.granted", day, deal_id=deal, rep_id=rep,
                         discount_pct=pct, list_amount=50_000.0, approval_id=approval)
            elif kind < 0.55:
                self.note(day, rep, f"acct-{rnd.randrange(self.n_deals // 3):06d}", None)
            elif kind < 0.8:
                self.add("lead.qualified", day, lead_id=f"lead-{self.serial}", rep_id=rep,
                         icp_fit=rnd.random() < 0.6)
            elif kind < 0.9:
                self.add("coaching.logged", day, rep_id=rep, practice="mutual close plan",
                         applied=rnd.random() < 0.7)
            else:
                self.add("survey.submitted", day, rep_id=rep,
                         account_id=f"acct-{rnd.randrange(self.n_deals // 3):06d}",
                         kind=rnd.choice(("customer_alignment", "rep_autonomy")),
                         score=float(rnd.randint(40, 100)))

    def records(self, n_events: int) -> list[bytes]:
        self.roster_and_quotas()
        for n in range(self.n_deals):
            if len(self.items) >= n_events * 0.6:
                break
            self.deal(n)
        self.activity(n_events)
        del self.items[n_events:]
        for _ in range(n_events - len(self.items)):  # ~1 % redeliveries, hours later
            arrival, event = self.rnd.choice(self.items)
            self.items.append((arrival + self.rnd.uniform(0, 0.5), event))
        self.items.sort(key=lambda item: item[0])
        encode = msgspec.json.encode
        return [encode(event) for _, event in self.items]


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
    parser.add_argument("--gc-threshold", type=int, default=0, metavar="N",
                        help="gc.set_threshold(N, 20, 100) first, as a worker may (0: Python's "
                             "default 700, 10, 10)")
    args = parser.parse_args()
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, 20, 100)

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
