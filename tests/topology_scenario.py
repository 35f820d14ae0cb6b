"""One scenario for the topology tests: simulator events with bad records, duplicates and
late deliveries, the records to produce, and what the pure engine says the results are."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
from kafka import KafkaConsumer, KafkaProducer

from schemas.decode import InvalidEvent, decode
from schemas.outputs import KpiSnapshot, KpiValue, Violation
from simulator.feed import Injected, Record, schedule
from simulator.scenario import generate
from streams.engine import Engine
from streams.policy_model import default_policy
from tests.worker_process import wait_for

# Judged on the state at a moving stream time: which of them fire depends on arrival
# order (docs/semantics.md), so the topology tests compare them through the KPIs.
POINT_IN_TIME_RULES = ("stale_close_date:", "deal_stalled:")
# violations_30d counts those firings too, so it depends on arrival order as well.
ORDER_DEPENDENT_KPIS = frozenset({"violations_30d"})


@dataclass
class Expected:
    """What the single-process engine computes from the same deliveries."""

    rep_kpis: dict[str, dict[str, KpiValue]]
    team_kpis: dict[str, dict[str, KpiValue]]
    violation_ids: set[str]
    late: int
    duplicates: int
    bad: int


@dataclass
class Scenario:
    setup: list[Record]
    activity: list[Record]
    injected: Injected = field(default_factory=Injected)

    @property
    def records(self) -> list[Record]:
        return self.setup + self.activity


def build_scenario(seed: int, *, teams: int, reps_per_team: int, activity: float) -> Scenario:
    """Roster and quotas first (their own batch), then 90 days of activity with defects."""
    events = generate(seed, teams=teams, reps_per_team=reps_per_team, activity=activity)
    injected = Injected()
    plan = schedule(
        events,
        bad_every=997,
        duplicate_every=211,
        late_every=401,
        late_by=dt.timedelta(days=30),  # late on every partition, whatever the interleaving
        injected=injected,
    )
    records = [record for _, record in plan]
    setup = [r for r in records if r[0] in {"crm.reps", "crm.quotas"}]
    activity_records = [r for r in records if r[0] not in {"crm.reps", "crm.quotas"}]
    return Scenario(setup, activity_records, injected)


def expected_results(scenario: Scenario) -> Expected:
    """Feed the deliveries through the pure engine in delivery order."""
    engine = Engine(default_policy())
    fired: set[str] = set()
    late = duplicates = bad = 0
    for family, _, value in scenario.records:
        try:
            event = decode(value, family)
        except InvalidEvent:
            bad += 1
            continue
        applied = engine.apply(event)
        late += applied.outcome == "late"
        duplicates += applied.outcome == "duplicate"
        fired.update(v.violation_id for v in applied.violations)
    return Expected(
        rep_kpis={rep: engine.rep_kpis(rep) for rep in engine.reps()},
        team_kpis={team: engine.team_kpis(team) for team in engine.teams()},
        violation_ids={v for v in fired if not v.startswith(POINT_IN_TIME_RULES)},
        late=late,
        duplicates=duplicates,
        bad=bad,
    )


def produce(bootstrap: str, prefix: str, records: Iterable[Record]) -> int:
    """Send records to the prefixed input topics; returns how many."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024)
    sent = 0
    for family, key, value in records:
        producer.send(prefix + family, key=key, value=value)
        sent += 1
    producer.flush()
    producer.close()
    return sent


class TopicReader:
    """Reads a topic from the beginning, incrementally, keeping every record."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.records: list[tuple[str, bytes]] = []

    def poll(self) -> list[tuple[str, bytes]]:
        for batch in self.consumer.poll(timeout_ms=500, max_records=50_000).values():
            self.records.extend((r.key.decode(), r.value) for r in batch)
        return self.records

    def latest(self) -> dict[str, bytes]:
        return {key: value for key, value in self.poll()}

    def close(self) -> None:
        self.consumer.close()


class DeadLetterReader(TopicReader):
    """Reads the dead-letter topic, keeping where each rejected record was read."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(bootstrap, topic)
        self.seen: set[tuple[str, ...]] = set()

    def sources(self) -> set[tuple[str, ...]]:
        """(topic, partition, offset) of every record dead-lettered so far: a record
        rejected again after a redelivery counts once."""
        for batch in self.consumer.poll(timeout_ms=500, max_records=50_000).values():
            for record in batch:
                headers = {name: value.decode() for name, value in record.headers}
                self.seen.add(tuple(headers[f"__connect.errors.{field}"]
                                    for field in ("topic", "partition", "offset")))
        return self.seen


_snapshot = msgspec.json.Decoder(KpiSnapshot)
_violation = msgspec.json.Decoder(Violation)


def comparable(latest: dict[str, bytes]) -> dict[str, KpiSnapshot]:
    """Decoded snapshots without the KPIs that depend on arrival order by definition."""
    found = {}
    for key, raw in latest.items():
        snapshot = _snapshot.decode(raw)
        kpis = {k: v for k, v in snapshot.kpis.items() if k not in ORDER_DEPENDENT_KPIS}
        found[key] = msgspec.structs.replace(snapshot, kpis=kpis)
    return found


def snapshot_mismatches(latest: dict[str, bytes], expected: Expected) -> list[str]:
    """Keys whose latest snapshot differs from the engine's figures (empty: all equal)."""
    wanted = {f"rep:{k}": v for k, v in expected.rep_kpis.items()}
    wanted.update({f"team:{k}": v for k, v in expected.team_kpis.items()})
    problems = []
    for key, kpis in wanted.items():
        raw = latest.get(key)
        if raw is None:
            problems.append(f"{key}: no snapshot")
        else:
            got = _snapshot.decode(raw).kpis
            diff = sorted(
                name for name in kpis
                if name not in ORDER_DEPENDENT_KPIS and got.get(name) != kpis[name]
            )
            if diff or set(got) != set(kpis):
                shown = "; ".join(f"{name} {_figures(got.get(name))} != engine's "
                                  f"{_figures(kpis[name])}" for name in diff[:3])
                problems.append(f"{key}: differs in {diff} ({shown})")
    return problems


def _figures(value: KpiValue | None) -> str:
    return "missing" if value is None else f"{value.numerator}/{value.denominator}"


def wait_for_snapshots(reader: TopicReader, expected: Expected, timeout: float) -> None:
    """Poll the snapshot topic until every rep and team equals the engine's figures."""
    last: list[str] = []

    def settled() -> bool:
        nonlocal last
        last = snapshot_mismatches(reader.latest(), expected)
        return not last

    try:
        wait_for(settled, timeout, "KPI snapshots equal to the pure engine's")
    except AssertionError as error:
        raise AssertionError(f"{error}: {last[:10]}") from None


def violation_records(reader: TopicReader) -> dict[str, set[bytes]]:
    """violation_id → the distinct record values seen for it."""
    seen: dict[str, set[bytes]] = {}
    for key, value in reader.poll():
        assert _violation.decode(value).violation_id == key
        seen.setdefault(key, set()).add(value)
    return seen


def wait_for_violations(reader: TopicReader, expected: Expected, timeout: float) -> None:
    """Poll until every expected violation is on the topic; then check nothing else is
    (point-in-time rules aside) and that no violation was published with two contents."""

    def complete() -> bool:
        return expected.violation_ids <= set(violation_records(reader))

    try:
        wait_for(complete, timeout, f"{len(expected.violation_ids)} violations")
    except AssertionError as error:
        missing = sorted(expected.violation_ids - set(violation_records(reader)))
        raise AssertionError(f"{error}: {len(missing)} missing, e.g. {missing[:8]}") from None
    seen = violation_records(reader)
    judged = {v for v in seen if not v.startswith(POINT_IN_TIME_RULES)}
    extra, missing = judged - expected.violation_ids, expected.violation_ids - judged
    assert not extra and not missing, (
        f"{len(extra)} unexpected, e.g. {sorted(extra)[:5]}; "
        f"{len(missing)} missing, e.g. {sorted(missing)[:5]}"
    )
    twice = {v: len(values) for v, values in seen.items() if len(values) > 1}
    assert not twice, f"violations published with different contents: {twice}"
