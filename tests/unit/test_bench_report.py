"""The benchmark suite's helpers: percentiles, the results table, the profile, peak RSS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import unused_path
from bench.product import peak_rss_bytes, restart_peak_rss
from bench.profile import hot_spots, main_thread
from bench.progress import Span
from bench.report import Row, markdown_table, percentile, ratio, text_table
from tests.worker_process import WorkerProcess


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_tables_show_every_row_and_verdict():
    rows = [Row("throughput", "1,000 events/s", ">= 0.5x ceiling", True),
            Row("p99 latency", "300 ms", "< 250 ms", False),
            Row("ceiling", "9,000 events/s")]
    text = text_table(rows)
    assert text.splitlines()[0].split() == ["measure", "figure", "target", "verdict"]
    assert "MISSED" in text and "met" in text
    md = markdown_table(rows).splitlines()
    assert md[0] == "| measure | figure | target | verdict |"
    assert md[3] == "| p99 latency | 300 ms | < 250 ms | MISSED |"
    assert md[4] == "| ceiling | 9,000 events/s |  |  |"


def test_ratio():
    assert ratio(1.0, 4.0) == "0.25x"
    assert ratio(1_329.0, 330_077.0) == "0.00403x", "a small ratio keeps its digits"
    assert ratio(1.0, 0.0) == "n/a"


def test_the_profile_counts_the_event_loop_thread_only() -> None:
    collapsed = "\n".join([
        "thread (7): aiokafka-consumer;run (t.py:1);select (selectors.py:2) 90",
        "thread (5): MainThread;run_forever (base_events.py:3);flush (keyed_state.py:4) 8",
        "thread (5): MainThread;run_forever (base_events.py:3);select (selectors.py:2) 2",
    ])
    shares, total = hot_spots(main_thread(collapsed))
    assert total == 10
    own = {name: mine for name, _, mine in shares}
    assert own["flush (keyed_state.py)"] == 0.8
    assert own["select (selectors.py)"] == 0.2
    assert main_thread("run (t.py:1) 3") == "run (t.py:1) 3", "no thread names: every stack"


def throughput_figures(spans: dict[str, Span], covered: dict[str, int]) -> dict[str, str]:
    """The throughput rows' figures by measure."""
    from bench.suite import throughput_rows

    return {row.measure: row.figure for row in throughput_rows(spans, covered)}


def test_events_per_cpu_second_for_contenders_whose_cpu_was_measured() -> None:
    spans = {"raw": Span(0.0, 1.0), "naive": Span(0.0, 10.0, cpu=5.0),
             "product": Span(0.0, 5.0, cpu=2.0)}
    covered = {"raw": 1000, "naive": 1000, "product": 1000}
    figures = throughput_figures(spans, covered)
    assert figures["events per CPU second, product worker"] == "500 (2,000 µs of CPU per event)"
    assert figures["events per CPU second, (b) naive Faust (Record + table write per event)"] \
        == "200 (5,000 µs of CPU per event)"
    assert figures["product ÷ naive Faust (Record + table write per event), per CPU second"] \
        == "2.50x"
    assert not [m for m in figures if "CPU" in m and "raw" in m]


def test_each_contender_is_rated_by_the_events_its_span_covered() -> None:
    # The baselines consume a prefix of the corpus: their rate is that prefix over their
    # span, not the whole corpus over it.
    spans = {"naive": Span(0.0, 1.0, cpu=1.0), "product": Span(0.0, 5.0, cpu=4.0)}
    figures = throughput_figures(spans, {"naive": 100, "product": 1000})
    assert figures["throughput (b) naive Faust (Record + table write per event)"] \
        == "100 events/s (100 events)"
    assert figures["throughput product worker"] == "200 events/s (1,000 events)"
    assert figures["product ÷ naive Faust (Record + table write per event)"] == "2.00x"
    assert figures["product ÷ naive Faust (Record + table write per event), per CPU second"] \
        == "2.50x"


def test_baselines_are_compared_with_the_product_over_their_own_events() -> None:
    # The product's run over the whole corpus is slower than over the baselines' prefix
    # (more state); the ceiling is compared with the whole, the baselines with the prefix.
    spans = {"raw": Span(0.0, 1.0), "naive": Span(0.0, 1.0, cpu=1.0),
             "product-prefix": Span(0.0, 1.0, cpu=0.5), "product": Span(0.0, 20.0, cpu=16.0)}
    covered = {"raw": 1000, "naive": 100, "product-prefix": 100, "product": 1000}
    figures = throughput_figures(spans, covered)
    assert figures["throughput product worker, over the baselines' events"] \
        == "100 events/s (100 events)"
    assert figures["product ÷ naive Faust (Record + table write per event)"] == "1.00x"
    assert figures["product ÷ raw aiokafka fetch + decode (ceiling)"] == "0.05x"
    assert figures["product ÷ naive Faust (Record + table write per event), per CPU second"] \
        == "2.00x"


def test_a_restarted_peak_rss_forgets_the_peak_before(tmp_path):
    # A process that held 200 MiB once, then let it go: its VmHWM stays up until restarted.
    script = ("import sys; block = bytearray(200 << 20); block[::4096] = b'x' * len(block[::4096]);"
              " del block; print('freed', flush=True); sys.stdin.read()")
    process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
    worker = WorkerProcess({}, tmp_path / "log", process=process)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"freed\n"
        assert peak_rss_bytes(worker) > 200 << 20
        restart_peak_rss(worker)
        assert peak_rss_bytes(worker) < 100 << 20
    finally:
        process.kill()
        process.wait()


def test_a_later_run_of_the_day_gets_a_results_file_of_its_own(tmp_path: Path) -> None:
    stem = "2026-12-05-1000000-events"
    assert unused_path(tmp_path, stem) == tmp_path / f"{stem}.md"
    (tmp_path / f"{stem}.md").write_text("first run")
    assert unused_path(tmp_path, stem) == tmp_path / f"{stem}-2.md"
    (tmp_path / f"{stem}-2.md").write_text("second run")
    assert unused_path(tmp_path, stem) == tmp_path / f"{stem}-3.md"
