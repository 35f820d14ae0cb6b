"""Replay of CRM exports: every quirk of a real export is handled by its documented rule
and reported with the right line and reason; a replayed export gives the same KPIs as
the equivalent live event stream, and replaying it twice changes nothing."""

from __future__ import annotations

import argparse
import datetime as dt
import io
from pathlib import Path

import pytest

from schemas.events import DealKind, DealUpdated, Stage
from simulator.cli import add_replay_arguments, replay_main
from simulator.mapping import MappingError, load_mapping, parse_mapping
from simulator.parsing import parse_amount, parse_date, parse_datetime, parse_flag
from simulator.progress import Progress
from simulator.replay import ReplayError, replay_csv, replay_jsonl
from streams.engine import Engine
from streams.policy_model import default_policy

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "replay"
SF_OPPORTUNITIES = FIXTURES / "sf_opportunities.csv"
SF_HISTORY = FIXTURES / "sf_history.csv"
HUBSPOT = FIXTURES / "hubspot_deals.csv"
JSONL = FIXTURES / "events.jsonl"
SF_MAPPING = load_mapping(ROOT / "deploy" / "replay" / "salesforce.mapping.yaml")
HS_MAPPING = load_mapping(ROOT / "deploy" / "replay" / "hubspot.mapping.yaml")
LONDON = dt.timezone(dt.timedelta(hours=1))  # British Summer Time, as the fixture's dates
NEW_YORK = dt.timezone(dt.timedelta(hours=-4))


def problems(report):
    return [(p.file, p.line, p.severity, p.reason) for p in report.problems]


def by_deal(events) -> dict[str, list[DealUpdated]]:
    out: dict[str, list[DealUpdated]] = {}
    for event in events:
        out.setdefault(event.deal_id, []).append(event)
    return out


def salesforce():
    return replay_csv(SF_OPPORTUNITIES, SF_MAPPING, history=SF_HISTORY)


# ------------------------------------------------------------------- the fixtures' bytes

def test_fixtures_carry_the_quirks_of_real_exports() -> None:
    raw = SF_OPPORTUNITIES.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    assert b"\r\n" in SF_HISTORY.read_bytes() and b"\r\n" not in HUBSPOT.read_bytes()


# -------------------------------------------------------------------------- Salesforce

def test_salesforce_problems_are_reported_by_line_and_reason() -> None:
    _, report = salesforce()
    opp, hist = "sf_opportunities.csv", "sf_history.csv"
    assert problems(report) == [
        (opp, 5, "warning", "empty_amount"),  # line 5: row 3-4 spans two lines
        (opp, 6, "warning", "contradictory_status"),
        (opp, 7, "error", "unknown_stage"),
        (opp, 8, "error", "bad_date"),
        (opp, 10, "error", "unknown_owner"),
        (opp, 11, "warning", "footer_skipped"),
        (hist, 7, "warning", "history_before_created"),
        (hist, 11, "error", "unknown_deal"),
        (hist, 12, "error", "unknown_deal"),
        (hist, 13, "warning", "empty_amount"),
    ]
    details = {(p.file, p.line): p.detail for p in report.problems}
    assert "Verbal Yes" in details[(opp, 7)]
    assert "31/02/2026" in details[(opp, 8)] and "created_at" in details[(opp, 8)]
    assert "Carol Diaz" in details[(opp, 10)]
    assert "the stage wins" in details[(opp, 6)]
    assert "line 7" in details[(hist, 11)] and "rejected" in details[(hist, 11)]
    assert "not in the opportunity export" in details[(hist, 12)]
    assert "3 non-blank lines" in details[(opp, 11)]
    assert (report.rows, report.rejected, report.blank) == (8 + 12, 5, 1)
    assert len(report.warnings) == 5 and report.events == 15


def test_salesforce_rows_are_mapped_by_the_documented_rules() -> None:
    events, _ = salesforce()
    deals = by_deal(events)
    assert set(deals) == {"0061", "0062", "0063", "0064", "0067"}  # 0065, 0066, 0068 rejected
    # BOM stripped (the first header matched), day-first dates in the mapping's zone.
    acme = deals["0061"]
    assert acme[0].created_at == dt.datetime(2026, 6, 2, 9, 30, tzinfo=LONDON)
    assert [e.stage for e in acme] == ["prospecting", "qualification", "proposal",
                                       "negotiation", "closed_won", "closed_won"]
    assert acme[3].amount == 48_000 and acme[3].expected_close_date == dt.date(2026, 8, 15)
    assert acme[0].rep_id == "rep-a1" and acme[0].kind == DealKind.NEW_BUSINESS
    # The current state comes after the history (the close date's midnight is earlier).
    assert acme[-1].occurred_at == acme[-2].occurred_at + dt.timedelta(milliseconds=1)
    # History before the creation: clamped to it; a multi-line quoted cell: one value.
    globex = deals["0062"]
    assert globex[0].occurred_at == globex[0].created_at and globex[0].stage == "prospecting"
    assert globex[-1].occurred_at == dt.datetime(2026, 9, 3, 11, 0, tzinfo=LONDON)
    assert globex[-1].next_step == "Legal review\nthen signature"
    assert globex[-1].kind == DealKind.EXPANSION and globex[-1].amount == 120_000
    # Empty amount on an open deal: 0; no close date: None; the creation is its time.
    initech = deals["0063"]
    assert [(e.amount, e.expected_close_date) for e in initech] == [(0.0, None)]
    assert initech[0].occurred_at == initech[0].created_at and initech[0].rep_id == "rep-a2"
    # Contradictory flags: the stage wins; an empty currency cell: the default.
    umbrella = deals["0064"]
    assert {e.stage for e in umbrella} == {Stage.NEGOTIATION}
    assert [e.amount for e in umbrella] == [0.0, 75_500.0] and umbrella[0].currency == "EUR"
    # A closed deal without history: one event at its close date's midnight.
    wayne = deals["0067"]
    assert [(e.stage, e.occurred_at) for e in wayne] == [
        ("closed_lost", dt.datetime(2026, 8, 13, tzinfo=LONDON))]


def test_date_order_option_overrides_the_mapping() -> None:
    events, report = replay_csv(SF_OPPORTUNITIES, SF_MAPPING, date_order="mdy")
    bad = [p for p in report.errors if p.reason == "bad_date"]
    assert bad and all("reads as dmy" in p.detail for p in bad if "31/02" not in p.detail)
    assert "0061" not in by_deal(events)  # 15/08/2026 is no month-first date


# ----------------------------------------------------------------------------- HubSpot

def test_hubspot_export_with_month_first_dates() -> None:
    events, report = replay_csv(HUBSPOT, HS_MAPPING)
    assert problems(report) == [
        ("hubspot_deals.csv", 4, "warning", "empty_amount"),
        ("hubspot_deals.csv", 5, "error", "bad_date"),
        ("hubspot_deals.csv", 6, "warning", "unknown_kind"),
    ]
    assert "reads as dmy" in report.errors[0].detail
    deals = {e.deal_id: e for e in events}
    assert set(deals) == {"9001", "9002", "9003", "9005"}
    contoso = deals["9002"]
    assert contoso.created_at == dt.datetime(2026, 6, 2, 10, 0, tzinfo=NEW_YORK)
    assert contoso.expected_close_date == dt.date(2026, 8, 15)
    assert contoso.occurred_at == dt.datetime(2026, 8, 15, tzinfo=NEW_YORK)
    assert (contoso.stage, contoso.rep_id, contoso.currency) == ("closed_won", "rep-b2", "USD")
    northwind = deals["9001"]
    assert northwind.occurred_at == dt.datetime(2026, 8, 20, 15, 30, tzinfo=NEW_YORK)
    assert (northwind.stage, northwind.amount, northwind.kind) == (
        "negotiation", 18_500.0, DealKind.EXPANSION)
    assert deals["9003"].currency == "USD" and deals["9003"].amount == 0.0
    assert deals["9005"].kind == DealKind.NEW_BUSINESS


# ------------------------------------------------------------------------------- JSONL

def test_jsonl_bad_lines_are_reported_and_duplicates_replayed_once() -> None:
    events, report = replay_jsonl(JSONL)
    assert [e.event_id for e in events] == ["j-1", "j-2", "j-4", "j-5"]
    assert problems(report) == [
        ("events.jsonl", 3, "error", "not_json"),
        ("events.jsonl", 4, "error", "out_of_range"),
        ("events.jsonl", 6, "warning", "duplicate_event_id"),
    ]
    assert "discount_pct" in report.problems[1].detail
    assert (report.rows, report.rejected, report.duplicates, report.blank) == (7, 2, 1, 1)


# ------------------------------------------------------------------- KPIs after replay

def _deal(at: dt.datetime, deal_id: str, stage: str, amount: float, close: dt.date | None,
          *, rep: str, account: str, created: dt.datetime, kind: str = "new_business",
          next_step: str | None = None) -> DealUpdated:
    return DealUpdated(
        event_id=f"live-{deal_id}-{at.isoformat()}", schema_version=1, occurred_at=at,
        source="salesforce-cdc", deal_id=deal_id, account_id=account, rep_id=rep,
        stage=Stage(stage), amount=amount, currency="EUR", expected_close_date=close,
        kind=DealKind(kind), created_at=created, next_step=next_step)


def live_stream() -> list[DealUpdated]:
    """What a CRM connector would have published as the fixture's deals changed."""
    def t(day: str, time: str = "00:00") -> dt.datetime:
        return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=LONDON)

    aug15, aug31, sep30 = dt.date(2026, 8, 15), dt.date(2026, 8, 31), dt.date(2026, 9, 30)
    acme = {"rep": "rep-a1", "account": "Acme Corp", "created": t("2026-06-02", "09:30")}
    globex = {"rep": "rep-a1", "account": "Globex", "created": t("2026-07-10", "14:00"),
              "kind": "expansion", "next_step": "Legal review\nthen signature"}
    umbrella = {"rep": "rep-a2", "account": "Umbrella", "created": t("2026-08-01", "09:00"),
                "kind": "expansion", "next_step": "Send the order form"}
    return [
        _deal(t("2026-06-02", "09:30"), "0061", "prospecting", 50_000, aug31, **acme),
        _deal(t("2026-06-20", "10:00"), "0061", "qualification", 50_000, aug31, **acme),
        _deal(t("2026-07-06", "10:00"), "0061", "proposal", 50_000, aug31, **acme),
        _deal(t("2026-07-27", "16:00"), "0061", "negotiation", 48_000, aug15, **acme),
        _deal(t("2026-08-15", "17:45"), "0061", "closed_won", 48_000, aug15, **acme),
        _deal(t("2026-07-10", "14:00"), "0062", "prospecting", 120_000, sep30, **globex),
        _deal(t("2026-07-20", "10:00"), "0062", "qualification", 120_000, sep30, **globex),
        _deal(t("2026-08-05", "10:00"), "0062", "proposal", 120_000, sep30, **globex),
        _deal(t("2026-08-25", "10:00"), "0062", "negotiation", 120_000, sep30, **globex),
        _deal(t("2026-09-03", "11:00"), "0062", "negotiation", 120_000, sep30, **globex),
        _deal(t("2026-08-20", "10:00"), "0063", "prospecting", 0, None, rep="rep-a2",
              account="Initech", created=t("2026-08-20", "10:00")),
        _deal(t("2026-08-01", "09:00"), "0064", "negotiation", 0, sep30, **umbrella),
        _deal(t("2026-09-01", "15:30"), "0064", "negotiation", 75_500, sep30, **umbrella),
        _deal(t("2026-08-13"), "0067", "closed_lost", 22_000, dt.date(2026, 8, 13),
              rep="rep-a1", account="Wayne Enterprises", created=t("2026-07-01", "11:00")),
    ]


def applied(events) -> Engine:
    engine = Engine(default_policy())
    for event in sorted(events, key=lambda e: e.occurred_at):
        engine.apply(event)
    return engine


def snapshot(engine: Engine) -> dict:
    return {
        "reps": {rep: engine.rep_kpis(rep) for rep in engine.reps()},
        "teams": {team: engine.team_kpis(team) for team in engine.teams()},
        "stalled": engine.stalled_deals(), "stale": engine.stale_deals(),
        "stream_time": engine.stream_time,
    }


def test_replayed_export_gives_the_kpis_of_the_live_stream() -> None:
    events, _ = salesforce()
    replayed, live = snapshot(applied(events)), snapshot(applied(live_stream()))
    assert replayed == live
    # Not vacuous: the deals are there and judged.
    kpis = replayed["reps"]["rep-a1"]
    assert kpis["revenue_attainment"].numerator == 48_000
    assert kpis["win_rate"].numerator == 1 and kpis["win_rate"].denominator == 2
    assert replayed["stalled"] == {"0064"}


def test_replaying_twice_changes_nothing() -> None:
    first, _ = salesforce()
    second, _ = salesforce()
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == len(first)
    engine = Engine(default_policy())
    outcomes = [engine.apply(e).outcome
                for e in sorted(first + second, key=lambda e: e.occurred_at)]
    assert outcomes.count("duplicate") == len(first)
    assert snapshot(engine) == snapshot(applied(first))


def test_event_ids_do_not_depend_on_row_order_or_file_name(tmp_path: Path) -> None:
    text = HUBSPOT.read_text(encoding="utf-8").splitlines(keepends=True)
    shuffled = tmp_path / "another-export-name.csv"
    shuffled.write_text(text[0] + "".join(reversed(text[1:])), encoding="utf-8")
    original, _ = replay_csv(HUBSPOT, HS_MAPPING)
    again, _ = replay_csv(shuffled, HS_MAPPING)
    assert {e.event_id for e in original} == {e.event_id for e in again}


# ------------------------------------------------------------------------ bad mappings

def test_mapping_errors_name_the_key() -> None:
    good = {"columns": {"deal_id": "Id", "account_id": "A", "owner": "O", "stage": "S",
                        "amount": "Amt", "created_at": "C"},
            "stages": {"Won": "closed_won"}, "defaults": {"currency": "EUR"}}
    assert parse_mapping(good).columns["deal_id"] == "Id"
    missing = {**good, "columns": {k: v for k, v in good["columns"].items() if k != "stage"}}
    with pytest.raises(MappingError, match="columns: stage is required"):
        parse_mapping(missing)
    with pytest.raises(MappingError, match="stages: Won: 'won' is not one of"):
        parse_mapping({**good, "stages": {"Won": "won"}})
    with pytest.raises(MappingError, match="defaults: currency is needed"):
        parse_mapping({**good, "defaults": {}})
    with pytest.raises(MappingError, match="date_order"):
        parse_mapping({**good, "date_order": "ymd"})
    with pytest.raises(MappingError, match="unknown key 'colums'"):
        parse_mapping({**good, "colums": {}})


def test_a_column_missing_from_the_header_stops_the_replay(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text("Record ID,Deal Stage\n1,Closed Won\n", encoding="utf-8")
    with pytest.raises(ReplayError, match=r"'Amount' \(amount\)"):
        replay_csv(export, HS_MAPPING)
    with pytest.raises(ReplayError, match="history"):
        replay_csv(HUBSPOT, HS_MAPPING, history=SF_HISTORY)


def test_ragged_rows_and_bad_amounts_are_rejected(tmp_path: Path) -> None:
    header = HUBSPOT.read_text(encoding="utf-8").splitlines()[0]
    export = tmp_path / "export.csv"
    export.write_text(
        header + "\n"
        "9101,A,Closed Won,lots,08/15/2026,06/02/2026,Dana Lee,Acme,New Business,P,USD,,,"
        "true,true\n"
        "9102,B,Closed Won,100\n"
        "9103,C,Closed Won,100,08/15/2026,06/02/2026,Dana Lee,Acme,New Business,P,USD,,,1,1,,\n",
        encoding="utf-8")
    events, report = replay_csv(export, HS_MAPPING)
    assert problems(report) == [("export.csv", 2, "error", "bad_amount"),
                                ("export.csv", 3, "error", "ragged_row")]
    assert [e.deal_id for e in events] == ["9103"]  # trailing empty cells are fine


# --------------------------------------------------------------------------------- CLI

def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_replay_arguments(parser)
    return replay_main(parser.parse_args(argv))


def test_cli_dry_run_prints_the_report_and_strict_fails_on_rejections(capsys) -> None:
    argv = ["--csv", str(SF_OPPORTUNITIES), "--mapping",
            str(ROOT / "deploy" / "replay" / "salesforce.mapping.yaml"),
            "--history", str(SF_HISTORY), "--dry-run"]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "rejected rows: 5" in out and "sf_opportunities.csv:7: error: unknown_stage" in out
    assert run_cli([*argv, "--strict"]) == 1
    assert run_cli(["--jsonl", str(FIXTURES / "missing.jsonl"), "--dry-run"]) == 2
    assert run_cli(["--csv", str(HUBSPOT), "--dry-run"]) == 2  # no mapping


def test_cli_writes_the_mapped_events_as_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    assert run_cli(["--jsonl", str(JSONL), "--out", str(out)]) == 0
    events, report = replay_jsonl(out)
    assert [e.event_id for e in events] == ["j-1", "j-2", "j-4", "j-5"]
    assert report.problems == []


# ---------------------------------------------------------------------- cells, progress

def test_cell_parsers() -> None:
    assert parse_amount("$12,500.00") == 12_500.0
    assert parse_amount("€ 1.234,50", decimal=",") == 1_234.5
    assert parse_amount("EUR 300") == 300.0 and parse_amount("  ") is None
    for bad in ("-5", "abc", "nan", "inf"):
        with pytest.raises(ValueError):
            parse_amount(bad)
    assert parse_datetime("3/4/2026 2:05 PM", "mdy") == dt.datetime(2026, 3, 4, 14, 5,
                                                                    tzinfo=dt.UTC)
    assert parse_datetime("04.03.26 14:05", "dmy") == dt.datetime(2026, 3, 4, 14, 5,
                                                                  tzinfo=dt.UTC)
    assert parse_datetime("2026-03-04T10:00:00.000+0000", "mdy").hour == 10
    assert parse_date("2026-12-31T23:30:00Z", "dmy") == dt.date(2026, 12, 31)
    assert parse_flag("TRUE") is True and parse_flag("0") is False and parse_flag("") is None
    with pytest.raises(ValueError):
        parse_flag("maybe")


def test_progress_bar_redraws_once_per_percent() -> None:
    out, now = io.StringIO(), [0.0]
    bar = Progress("replay x.csv", 1000, out=out, clock=lambda: now[0])
    for done in range(0, 1001, 5):
        now[0] += 0.01
        bar.update(done, done // 10)
    bar.close()
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 101
    assert frames[-1].startswith("replay x.csv [" + "#" * 24 + "] 100%")
    assert "rows/s" in frames[-1] and out.getvalue().endswith("\n")
