"""Every metric the alert rules, recording rules and dashboards query exists: each
``latitude_*`` name is exported by a worker's collectors and documented in
docs/metrics.md, each ``team:``/``latitude:`` name is recorded by recording.yml."""

from __future__ import annotations

import re
from collections.abc import Iterable

import rocksdict
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from agents.consumer_lag import ConsumerLag
from agents.kpi_metrics import KpiCollector
from agents.memory_limit import MemoryLimit
from agents.metrics import IngestCollector, IngestCounters
from agents.snapshot_latency import SnapshotLatency
from agents.store_memory import StoreMemory
from tests.fake_pipeline import full_pipeline
from tests.tools import DEPLOY, REPO, dashboard_queries

RULES = DEPLOY / "prometheus" / "rules"
NAME = re.compile(r"(?<![\w:])((?:latitude_|team:|latitude:)[A-Za-z0-9_:]*[A-Za-z0-9_])")
# Sample suffixes of a family, by type (what Prometheus stores).
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
FAUST_SENSOR = "latitude_faust_"


def exported() -> set[str]:
    """Every sample name a worker's own collectors can export (families with no samples
    yet included: a counter's first increment must not invent a new name)."""
    registry = CollectorRegistry()
    SnapshotLatency(registry)
    collectors = [
        KpiCollector(full_pipeline(), per_rep=True),
        IngestCollector(IngestCounters()),
        ConsumerLag({}),
        StoreMemory(lambda: [], rocksdict.Cache(1 << 20)),
        MemoryLimit(),
        registry,
    ]
    metrics: list[Metric] = [m for c in collectors for m in c.collect()]
    names = set()
    for metric in metrics:
        names.update(metric.name + s for s in SUFFIXES.get(metric.type, ("",)))
    return names


def rule_texts() -> Iterable[tuple[str, str]]:
    """(where, text) of every expression and annotation of the rule files."""
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            for rule in group["rules"]:
                where = f"{path.name}: {rule.get('alert') or rule.get('record')}"
                yield where, rule["expr"]
                for text in rule.get("annotations", {}).values():
                    yield where, text


def recorded() -> set[str]:
    return {rule["record"] for path in sorted(RULES.glob("*.yml"))
            for group in yaml.safe_load(path.read_text("utf-8"))["groups"]
            for rule in group["rules"] if "record" in rule}


def queried() -> list[tuple[str, str]]:
    texts = list(rule_texts())
    texts += [(f"{q.dashboard}: {q.panel}", q.expr) for q in dashboard_queries()]
    return [(where, name) for where, text in texts for name in NAME.findall(text)]


def test_every_queried_metric_is_exported_or_recorded() -> None:
    names, records = exported(), recorded()
    missing = sorted({
        f"{where}: {name}" for where, name in queried()
        if name not in (records if ":" in name else names)
        and not name.startswith(FAUST_SENSOR)
    })
    assert missing == []
    assert len(queried()) > 200, "the extraction found too few names to be trusted"


def test_every_exported_metric_is_documented() -> None:
    text = (REPO / "docs" / "metrics.md").read_text("utf-8")
    templates = re.findall(r"`(latitude_<kpi>_[a-z<>_]+)`", text)
    assert templates, "docs/metrics.md KPI templates not found"
    kpis = dict(re.findall(r"^\| `([a-z0-9_]+)` \| `([a-z_]+)`", text, re.MULTILINE))
    documented = set(re.findall(r"`(latitude_[a-z0-9_]+)(?:\{[a-z,]*\})?`", text))
    for kpi, unit in kpis.items():
        for template in templates:
            documented.add(template.replace("<kpi>", kpi).replace("<unit>", unit))
    undocumented = sorted(
        name for name in exported()
        if name not in documented and name.removesuffix("_bucket").removesuffix("_count")
        .removesuffix("_sum") not in documented
    )
    assert undocumented == []
