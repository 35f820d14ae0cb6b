"""The benchmark suite against a real broker: throughput, latency, memory, recovery, and
the baselines measured in the same run on the same topics (README, Benchmarks)."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.topics import VIOLATIONS, ensure_topics
from bench import latency, product
from bench.corpus import START, Stream, at_live_pace, open_deals, to_records
from bench.profile import profile_rows, start_sampling, stop_sampling
from bench.progress import GroupProgress, Span
from bench.raw_ceiling import raw_ceiling
from bench.report import Row, percentile, rate, ratio
from tests.local_kafka import BOOTSTRAP_ENV, start_local_broker
from tests.topology_scenario import produce
from tests.worker_process import WorkerProcess, free_port, worker_env

MiB = 1024 * 1024
# Event-time layout, in days from START: the corpus (0-90), the live latency stream (day
# 91, seconds long), the replayed one (92-182), the open deals (183), the recovery probes
# (190). Each phase is later than the last, so none of its events is late for the
# partitions the previous one moved on.
LATENCY_DAY, OPEN_DEALS_DAY, PROBE_DAY = 91, 183, 190


@dataclass
class Options:
    events: int
    reps: int
    open_deals: int
    memory_reps: int
    latency_seconds: float
    timeout: float
    profile_seconds: float
    work_dir: Path
    bootstrap: str | None = None
    # Parts to run (raw, product, naive, quix, latency); None: all, and the product's
    # memory and recovery phases too (with a subset: only the parts named).
    only: frozenset[str] | None = None
    # Paced input before the timed part. In the first seconds the worker lags (at
    # 1,500 events/s: up to 1 s in the first 9 s, under 300 ms after); stream time has
    # just jumped from the corpus's to the phase's.
    latency_warmup_seconds: float = 10.0
    # The baselines run on the corpus's first this many events (0: all of it), produced
    # before the rest: at their rates the whole 1,000,000 would take naive Faust about 9
    # minutes and Quix Streams about 26. Their rate is steady well before that.
    baseline_events: int = 100_000

    def runs(self, part: str) -> bool:
        if self.only is None or part in self.only:
            return True
        # The latency phase paces its input at half the product's measured throughput.
        return part == "product" and "latency" in self.only


@dataclass
class Results:
    """Everything measured, as table rows, plus notes for the results file."""

    rows: list[Row] = field(default_factory=list)
    profile: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Each contender's throughput span, and the events it covered.
    spans: dict[str, Span] = field(default_factory=dict)
    covered: dict[str, int] = field(default_factory=dict)

    def rated(self, name: str, span: Span, events: int) -> None:
        """Keep contender ``name``'s throughput span over ``events`` events."""
        self.spans[name], self.covered[name] = span, events

    def say(self, text: str) -> None:
        print(f"bench: {text}", flush=True)
        self.notes.append(text)


@dataclass(frozen=True)
class Corpus:
    """The throughput corpus: its ``first`` events are on the topics (the baselines'
    share), ``produce_rest`` adds the others, up to ``total``."""

    total: int
    first: int
    produce_rest: Callable[[], None]


@contextlib.contextmanager
def broker(options: Options) -> Iterator[str]:
    """The given cluster, or a local one started with kafka.sh and stopped afterwards."""
    if options.bootstrap:
        yield options.bootstrap
        return
    local = start_local_broker(options.work_dir / "kafka")
    try:
        yield local.bootstrap
    finally:
        local.script("stop")


def baseline_process(module: str, bootstrap: str, prefix: str, group: str,
                     work: Path) -> WorkerProcess:
    """A baseline app (``python -m bench.<module>``) reading ``prefix.*`` as ``group``."""
    argv = [sys.executable, "-m", f"bench.{module}"]
    if module == "naive_faust":
        argv += ["worker", "-l", "warn"]
    env = {**worker_env(bootstrap, prefix, work / group),
           "BENCH_BOOTSTRAP": bootstrap, "BENCH_TOPIC_PREFIX": f"{prefix}.",
           "BENCH_APP_ID": group, "BENCH_DATA_DIR": str(work / group),
           "BENCH_WEB_PORT": str(free_port()), "BENCH_PARTITIONS": str(product.PARTITIONS)}
    process = WorkerProcess(env, work / f"{group}.log", argv=argv)
    process.start(wait_ready=False)
    return process


def run_baseline(module: str, bootstrap: str, prefix: str, options: Options) -> Span:
    """Run a baseline app until its group has committed every input record there is and
    drained its own re-keying topics."""
    group = f"{prefix}-{module.replace('_', '-')}"
    progress = GroupProgress(bootstrap)
    process = baseline_process(module, bootstrap, prefix, group, options.work_dir)
    try:
        inputs = progress.partitions(product.input_topics(product.settings_for(bootstrap,
                                                                                prefix)))
        return progress.watch(group, inputs, timeout=options.timeout,
                              drained=lambda: progress.group_lag(group) == 0,
                              alive=lambda: process.running,
                              cpu=lambda: product.cpu_seconds(process))
    finally:
        process.stop()
        progress.close()


def probe(rep: str, n: int) -> dict[str, Any]:
    """A discount below the pricing floor: fires a violation the moment it is applied."""
    return {"type": "discount.granted", "event_id": f"probe-{n}", "schema_version": 1,
            "occurred_at": (START + dt.timedelta(days=PROBE_DAY)).isoformat(), "source": "bench",
            "deal_id": "deal-000001", "rep_id": rep, "discount_pct": 60.0,
            "list_amount": 10_000.0}


def time_to_processing(bootstrap: str, settings: Any, options: Options, n: int) -> float:
    """Start the worker with a probe waiting; seconds until its violation is out."""
    event = probe("rep-0000", n)
    produce(bootstrap, settings.topic_prefix, to_records([event]))
    watch = latency.ViolationWatch(bootstrap, settings.topic(VIOLATIONS),
                                   latency.violation_event_id)
    started = time.monotonic()
    worker = product.start_worker(bootstrap, settings.app_id, options.work_dir / "state",
                                  options.work_dir / "worker.log", wait_ready=False)
    try:
        deadline = started + options.timeout
        while event["event_id"] not in watch.arrived:
            if time.monotonic() > deadline or not worker.running:
                raise TimeoutError("the probe's violation never arrived")
            time.sleep(0.05)
        return watch.arrived[event["event_id"]] - started
    finally:
        watch.close()
        worker.stop()


def run(options: Options) -> Results:
    """Every phase, in order; a phase that fails is reported and the rest still run."""
    results = Results()
    with broker(options) as bootstrap:
        # Short: Quix Streams names state folders after several topic names at once.
        prefix = f"b{int(time.time()) % 10**6}"
        settings = product.settings_for(bootstrap, prefix)
        ensure_topics(settings)  # the table changelogs too, before any worker starts
        started = time.monotonic()
        events = Stream(options.events, 1, reps=options.reps).events(options.events)
        total = len(events)
        first = min(total, options.baseline_events or total)
        produce(bootstrap, settings.topic_prefix, to_records(events[:first]))
        results.say(f"{total:,} events ({options.reps:,} reps) built and the first "
                    f"{first:,} produced in {time.monotonic() - started:.0f} s")
        # The baselines before the product: its later phases produce more input (latency
        # events, open deals, probes), which a baseline run after them would consume
        # too, while its rate counts the corpus alone.
        for module, label in (("naive_faust", "naive"), ("quix_app", "quix")):
            if not options.runs(label):
                continue
            try:
                results.rated(label, run_baseline(module, bootstrap, prefix, options), first)
                results.say(f"{label}: {rate(first, results.spans[label].seconds)} over the "
                            f"first {first:,} events")
            except (TimeoutError, RuntimeError) as error:
                results.say(f"{label} failed: {error}")
        rest = to_records(events[first:])
        del events  # a million dicts: the worker needs the memory more

        def produce_rest() -> None:
            if rest:
                produce(bootstrap, settings.topic_prefix, rest)
                rest.clear()

        def ceiling() -> None:
            if options.runs("raw"):
                results.rated("raw", raw_ceiling(bootstrap, product.input_topics(settings),
                                                 settings.topic_prefix, total,
                                                 f"{prefix}-raw", options.timeout), total)
                results.say(f"raw ceiling: {rate(total, results.spans['raw'].seconds)}")

        corpus = Corpus(total, first, produce_rest)
        if options.runs("product"):
            product_phases(bootstrap, settings, options, corpus, ceiling, results)
        elif options.runs("raw"):
            produce_rest()
            ceiling()
        results.rows[:0] = throughput_rows(results.spans, results.covered)
    return results


def product_phases(bootstrap: str, settings: Any, options: Options, corpus: Corpus,
                   ceiling: Callable[[], None], results: Results) -> None:
    """Throughput (profiled), the raw ``ceiling`` while the worker idles, latency at half
    the throughput, memory with open deals, recovery."""
    progress = GroupProgress(bootstrap)
    worker = product.start_worker(bootstrap, settings.app_id, options.work_dir / "state",
                                  options.work_dir / "worker.log")
    try:
        assert worker.process is not None
        raw_profile = options.work_dir / "worker-profile.txt"
        sampler = (start_sampling(worker.process.pid, raw_profile, options.profile_seconds)
                   if options.profile_seconds else None)
        results.rated("product", throughput(progress, settings, options, worker, corpus,
                                            results), corpus.total)
        results.say(f"product worker: {rate(corpus.total, results.spans['product'].seconds)}")
        if sampler is not None:
            stop_sampling(sampler)
            if raw_profile.exists():
                results.profile = profile_rows(raw_profile.read_text())
        ceiling()  # the corpus is whole now, and the worker caught up with it
        if options.runs("latency"):
            max_rate = corpus.total / results.spans["product"].seconds
            for live in (True, False):
                results.rows.append(latency_row(bootstrap, settings, options, max_rate / 2,
                                                results, live=live))
        if options.only is not None:
            return
        results.rows += memory_rows(bootstrap, settings, options, progress, worker)
    finally:
        worker.stop()
        progress.close()
    intact = time_to_processing(bootstrap, settings, options, 1)
    shutil.rmtree(options.work_dir / "state")
    deleted = time_to_processing(bootstrap, settings, options, 2)
    results.rows += [
        Row("recovery, local state intact", f"{intact:.1f} s (start to processing again)",
            "< 10 s", intact < 10),
        Row("recovery, local state deleted", f"{deleted:.1f} s (rebuilt from changelogs)"),
    ]


def throughput(progress: GroupProgress, settings: Any, options: Options,
               worker: WorkerProcess, corpus: Corpus, results: Results) -> Span:
    """The worker's span over the whole corpus. With the baselines' share on the topics
    alone at first, that share is also rated on its own ("product-prefix"): the baselines'
    like-for-like, their state as small as the product's then. The rest is produced
    while the worker runs, so its time counts from the start of that production."""
    span = product.watch_worker(progress, settings, worker, options.timeout)
    if corpus.first == corpus.total:
        return span
    results.rated("product-prefix", span, corpus.first)
    results.say(f"product worker: {rate(corpus.first, span.seconds)} over the first "
                f"{corpus.first:,} events")
    started, cpu_started = time.monotonic(), product.cpu_seconds(worker)
    corpus.produce_rest()
    product.watch_worker(progress, settings, worker, options.timeout)
    return Span(span.first, span.done + time.monotonic() - started,
                (span.cpu or 0.0) + product.cpu_seconds(worker) - cpu_started)


def latency_row(bootstrap: str, settings: Any, options: Options, pace: float,
                results: Results, *, live: bool) -> Row:
    """p50 / p99 / max from produced to violation on the topic, at ``pace`` events/s.

    ``live``: event time keeps pace with the wall clock, as in production. Otherwise the
    stream's 90 days of event time pass within the phase, so a second of it carries
    about three days of time-driven work (stall clocks, day roll-overs with a snapshot
    of every rep, pruning) that a live worker spreads over those three days.

    The first ``latency_warmup_seconds`` of input are paced the same but not timed (their
    maximum is reported beside the figures)."""
    warmup = int(pace * options.latency_warmup_seconds)
    count = warmup + max(200, int(pace * options.latency_seconds))
    start = START + dt.timedelta(days=LATENCY_DAY if live else LATENCY_DAY + 1)
    events = Stream(count, 2, reps=options.reps, start=start,
                    tag="live" if live else "lat").events(count, roster=False)
    if live:
        events = at_live_pace(events, start, pace)
    arrived = latency.measure(bootstrap, settings.topic_prefix, settings.topic(VIOLATIONS),
                              events, to_records(events), pace, options.timeout)
    timed = latency.timed_event_ids(events[warmup:])
    seconds = [arrived[e] for e in timed if e in arrived]
    warming = [arrived[e] for e in latency.timed_event_ids(events[:warmup]) if e in arrived]
    expected = len(timed)
    regime, how = (("live", "event time at wall-clock pace") if live
                   else ("replay", "90 days of event time within the phase"))
    name = f"latency produced → violation at {pace:,.0f} events/s (½ max), {regime}: {how}"
    if not seconds:
        return Row(name, f"none of {expected} arrived", "p99 < 250 ms", False)
    p50, p99, top = (percentile(seconds, q) * 1000 for q in (50, 99, 100))
    results.say(f"latency ({regime}) at {pace:,.0f} events/s: "
                f"{len(seconds)} of {expected} violations")
    warmed = (f"; the {options.latency_warmup_seconds:.0f} s of warm-up before: max "
              f"{max(warming) * 1000:.0f} ms" if warming else "")
    return Row(name, f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {top:.0f} ms "
                     f"({len(seconds)}/{expected} timed{warmed})", "p99 < 250 ms", p99 < 250)


def memory_rows(bootstrap: str, settings: Any, options: Options, progress: GroupProgress,
                worker: WorkerProcess) -> list[Row]:
    """Peak RSS once ``open_deals`` more open deals are in state, and the bytes each
    open deal of the second half added: the first half also fills what is bounded or
    per rep (state caches, memtables, every rep's state), which a slope over all of
    them would extrapolate as if it grew with every deal. The peak is the phase's own
    (the worker keeps the corpus's state); the peak of the phases before it is reported
    beside it."""
    before = product.peak_rss_bytes(worker)
    product.restart_peak_rss(worker)
    day = START + dt.timedelta(days=OPEN_DEALS_DAY)
    deals = open_deals(options.open_deals, options.memory_reps, start=day, seed=3)
    half = len(deals) // 2
    peaks = []
    for part in (deals[:half], deals[half:]):
        produce(bootstrap, settings.topic_prefix, to_records(part))
        product.watch_worker(progress, settings, worker, options.timeout)
        peaks.append(product.peak_rss_bytes(worker))
    peak = peaks[-1]
    per_deal = max(0, peaks[1] - peaks[0]) / max(1, len(deals) - half)
    at_million = peak + per_deal * max(0, 1_000_000 - options.open_deals)
    rows = [Row("peak RSS before the open deals: corpus, throughput and latency phases",
                f"{before / MiB:,.0f} MiB"),
            Row(f"peak RSS, {options.open_deals:,} open deals of {options.memory_reps:,} reps"
                " + corpus",
                f"{peak / MiB:,.0f} MiB", "< 400 MiB", peak < 400 * MiB)]
    if options.open_deals < 1_000_000:
        rows.append(Row("peak RSS at 1,000,000 open deals (linear, from the second half)",
                        f"{at_million / MiB:,.0f} MiB ({per_deal:,.0f} B per open deal)",
                        "< 400 MiB", at_million < 400 * MiB))
    return rows


def throughput_rows(spans: dict[str, Span], covered: dict[str, int]) -> list[Row]:
    """Events/s of each contender over the ``covered`` events its span took, and the
    product's ratios against the baselines."""
    per_s = {name: covered[name] / span.seconds for name, span in spans.items()}
    rows = [Row(f"throughput {NAMES[n]}", f"{v:,.0f} events/s ({covered[n]:,} events)")
            for n, v in per_s.items()]
    if "product" not in per_s:
        return rows
    targets = {"raw": (0.5, ">= 0.5x ceiling"), "naive": (3.0, ">= 3x naive Faust"),
               "quix": (1.0, ">= 1x Quix Streams")}
    for name, (wanted, label) in targets.items():
        if name in per_s:
            mine = per_s[_product_against(name, per_s)]
            rows.append(Row(f"product ÷ {_without_letter(NAMES[name])}",
                            ratio(mine, per_s[name]), label, mine / per_s[name] >= wanted))
    return rows + cpu_rows(spans, covered)


NAMES = {"product": "product worker",
         "product-prefix": "product worker, over the baselines' events",
         "raw": "(a) raw aiokafka fetch + decode (ceiling)",
         "naive": "(b) naive Faust (Record + table write per event)",
         "quix": "(c) Quix Streams, same three KPIs"}


def _product_against(contender: str, measured: dict[str, float]) -> str:
    """The product's figure a contender is compared with: over the same events."""
    if contender in ("naive", "quix") and "product-prefix" in measured:
        return "product-prefix"
    return "product"


def _without_letter(name: str) -> str:
    """A contender's name without its "(a)"-style letter."""
    return name.split(" ", 1)[1]


def cpu_rows(spans: dict[str, Span], covered: dict[str, int]) -> list[Row]:
    """Events per CPU second of each contender's own process, and the product's ratios:
    steadier than events/s on a shared VM, though blind to the broker's share (a
    contender that writes more records costs the broker more)."""
    per_cpu = {name: covered[name] / span.cpu for name, span in spans.items() if span.cpu}
    rows = [Row(f"events per CPU second, {NAMES[n]}",
                f"{v:,.0f} ({1e6 / v:,.0f} µs of CPU per event)") for n, v in per_cpu.items()]
    if "product" in per_cpu:
        rows += [Row(f"product ÷ {_without_letter(NAMES[n])}, per CPU second",
                     ratio(per_cpu[_product_against(n, per_cpu)], v))
                 for n, v in per_cpu.items() if not n.startswith("product")]
    return rows


def bootstrap_from_env(environ: dict[str, str]) -> str | None:
    """An existing cluster to use instead of starting one (LATITUDE_KAFKA_BOOTSTRAP)."""
    return environ.get(BOOTSTRAP_ENV, "").strip() or None
