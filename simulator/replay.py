"""``latitude replay``: backfill from CRM exports — JSON lines of events, or CSV opportunity
exports (Salesforce, HubSpot) mapped to ``deal.updated`` events by a mapping file.

Nothing is dropped silently: every row that cannot be replayed is a *problem* with its
file, line and reason in the :class:`ReplayReport`, and every row replayed in a
documented but lossy way (an empty amount read as 0 ...) is a warning. The rules for
messy exports are in the docstring of :mod:`simulator.opportunities`.

Event ids are a hash of the mapped event's content (source included), never of a line
number or file name: replaying an export twice, or a re-export in another row order,
yields the same ids, so the worker applies each state once; a row whose content changed
is a new state with a new id.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from schemas import events as ev
from schemas.decode import InvalidEvent, decode, encode
from simulator.mapping import Mapping, fold
from simulator.opportunities import Change, Deal, RowError, deal_events, parse_change, parse_deal
from simulator.progress import Progress

BOM = b"\xef\xbb\xbf"


class ReplayError(ValueError):
    """A file that cannot be replayed at all (unreadable, no header, unmapped columns)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One row that was rejected (``error``) or replayed with a documented fix
    (``warning``). ``line`` is the 1-based line where the row starts."""

    file: str
    line: int
    severity: str
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.reason}: {self.detail}"


@dataclass(slots=True)
class ReplayReport:
    """Counts of what a replay read and produced, and every problem found."""

    rows: int = 0  # data rows (CSV) or non-blank lines (JSONL) read
    events: int = 0  # events produced
    rejected: int = 0  # rows not replayed
    duplicates: int = 0  # JSONL events whose event_id appeared earlier in the file
    blank: int = 0  # blank lines skipped
    problems: list[Problem] = field(default_factory=list)

    def error(self, file: str, line: int, reason: str, detail: str) -> None:
        """Record a rejected row."""
        self.rejected += 1
        self.problems.append(Problem(file, line, "error", reason, detail))

    def warn(self, file: str, line: int, reason: str, detail: str) -> None:
        """Record a row replayed with a documented fix."""
        self.problems.append(Problem(file, line, "warning", reason, detail))

    @property
    def warnings(self) -> list[Problem]:
        """The warnings only."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def errors(self) -> list[Problem]:
        """The rejected rows only."""
        return [p for p in self.problems if p.severity == "error"]

    def by_reason(self) -> dict[str, int]:
        """How many problems of each reason."""
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.reason] = counts.get(problem.reason, 0) + 1
        return dict(sorted(counts.items()))

    def summary(self, limit: int = 100) -> str:
        """A human-readable report: counts, then the first ``limit`` problems."""
        lines = [
            f"rows read: {self.rows}, events: {self.events}, rejected rows: {self.rejected}, "
            f"warnings: {len(self.warnings)}, duplicates: {self.duplicates}, "
            f"blank lines: {self.blank}",
        ]
        if self.problems:
            reasons = ", ".join(f"{r} {n}" for r, n in self.by_reason().items())
            lines.append(f"problems by reason: {reasons}")
            lines.extend(f"  {p}" for p in self.problems[:limit])
            if len(self.problems) > limit:
                lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


ProgressFactory = Callable[[str, int], Progress] | None


# ------------------------------------------------------------------------------ JSONL

def replay_jsonl(path: str | Path, *, progress: ProgressFactory = None
                 ) -> tuple[list[ev.Event], ReplayReport]:
    """The events of a JSON-lines file (one event per line, validated like live input),
    ordered by event time, and the report."""
    name, report = Path(path).name, ReplayReport()
    events: list[ev.Event] = []
    first_line: dict[str, int] = {}
    bar = progress(name, os.path.getsize(path)) if progress else None
    done = 0
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            done += len(raw)
            line = raw[3:] if number == 1 and raw.startswith(BOM) else raw
            line = line.rstrip(b"\r\n")
            if not line.strip():
                report.blank += 1
                continue
            report.rows += 1
            if bar:
                bar.update(done, report.rows)
            try:
                event = decode(line)
            except InvalidEvent as error:
                report.error(name, number, str(error.reason), error.detail)
                continue
            earlier = first_line.get(event.event_id)
            if earlier is not None:
                report.duplicates += 1
                report.warn(name, number, "duplicate_event_id",
                            f"event_id already on line {earlier}; replayed once")
                continue
            first_line[event.event_id] = number
            events.append(event)
    if bar:
        bar.close()
    return _finish(events, report)


def _finish(events: list[ev.Event], report: ReplayReport
            ) -> tuple[list[ev.Event], ReplayReport]:
    events.sort(key=lambda e: e.occurred_at)
    report.events = len(events)
    files = {p.file: n for n, p in reversed(list(enumerate(report.problems)))}
    report.problems.sort(key=lambda p: (files[p.file], p.line))
    return events, report


# -------------------------------------------------------------------------------- CSV

def replay_csv(
    path: str | Path,
    mapping: Mapping,
    *,
    history: str | Path | None = None,
    date_order: str | None = None,
    progress: ProgressFactory = None,
) -> tuple[list[ev.Event], ReplayReport]:
    """``deal.updated`` events from an opportunity export (one per row, plus one per row of
    the optional stage-history export), ordered by event time, and the report."""
    mapping = mapping.with_date_order(date_order)
    report = ReplayReport()
    name = Path(path).name
    deals: dict[str, Deal] = {}
    rejected: dict[str, int] = {}  # deal id -> line of its rejected row
    for line, row in _rows(path, mapping, mapping.columns, report, progress):
        warnings: list[tuple[str, str]] = []
        try:
            deal = parse_deal(row, line, mapping, warnings)
        except RowError as error:
            report.error(name, line, error.reason, error.detail)
            if row.get("deal_id"):
                rejected.setdefault(row["deal_id"], line)
            continue
        for reason, detail in warnings:
            report.warn(name, line, reason, detail)
        if deal.deal_id in deals:
            report.error(name, line, "duplicate_deal",
                         f"deal {deal.deal_id} is already on line {deals[deal.deal_id].line}")
            continue
        deals[deal.deal_id] = deal
    changes = _history(history, mapping, deals, rejected, report, progress) if history else {}
    events: list[ev.Event] = []
    history_name = Path(history).name if history else ""
    for deal in deals.values():
        warnings: list[tuple[int, str, str]] = []
        for change, event in deal_events(deal, changes.get(deal.deal_id, []), warnings):
            file, line = (name, deal.line) if change is None else (history_name, change.line)
            try:  # the boundary's own validation: ids too long, absurd dates ...
                events.append(decode(encode(event)))
            except InvalidEvent as error:
                report.error(file, line, str(error.reason), error.detail)
        for line, reason, detail in warnings:
            report.warn(history_name, line, reason, detail)
    return _finish(events, report)


def _history(path: str | Path, mapping: Mapping, deals: dict[str, Deal],
             rejected: dict[str, int], report: ReplayReport,
             progress: ProgressFactory) -> dict[str, list[Change]]:
    if mapping.history_columns is None:
        raise ReplayError("a history file needs a 'history: columns:' section in the mapping")
    name = Path(path).name
    out: dict[str, list[Change]] = {}
    for line, row in _rows(path, mapping, mapping.history_columns, report, progress):
        warnings: list[tuple[str, str]] = []
        try:
            change = parse_change(row, line, mapping, warnings)
        except RowError as error:
            report.error(name, line, error.reason, error.detail)
            continue
        if change.deal_id not in deals:
            where = rejected.get(change.deal_id)
            detail = (f"its opportunity row (line {where}) was rejected" if where
                      else "not in the opportunity export")
            report.error(name, line, "unknown_deal", f"deal {change.deal_id}: {detail}")
            continue
        for reason, detail in warnings:
            report.warn(name, line, reason, detail)
        out.setdefault(change.deal_id, []).append(change)
    return out


def _rows(path: str | Path, mapping: Mapping, columns: dict[str, str], report: ReplayReport,
          progress: ProgressFactory) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, {field: cell})`` of each data row; rejected rows go to the report."""
    name = Path(path).name
    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise ReplayError(f"{path}: cannot read ({error.strerror})") from error
    done = [0]

    def lines() -> Iterator[str]:
        with open(path, "rb") as file:
            for number, raw in enumerate(file):
                done[0] += len(raw)
                text = raw.decode(mapping.encoding, errors="replace")
                yield text.lstrip("\ufeff") if number == 0 else text

    reader = csv.reader(lines(), delimiter=mapping.delimiter)
    header = next(reader, None)
    if header is None:
        raise ReplayError(f"{name}: the file is empty (no header row)")
    index = _header_index(header, columns, name)
    bar = progress(name, size) if progress else None
    last = reader.line_num
    for cells in reader:
        start, last = last + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            report.blank += 1
            if mapping.skip_footer:
                _footer(reader, name, start, report)
                break
            continue
        report.rows += 1
        if bar:
            bar.update(done[0], report.rows)
        if any("\ufffd" in cell for cell in cells):
            report.error(name, start, "invalid_encoding",
                         f"bytes that are not {mapping.encoding}")
        elif len(cells) < len(header) or any(c.strip() for c in cells[len(header):]):
            report.error(name, start, "ragged_row",
                         f"{len(cells)} cells, the header has {len(header)}")
        else:
            yield start, {f: cells[i].replace("\r\n", "\n").strip() for f, i in index.items()}
    if bar:
        bar.close()


def _footer(reader: Iterator[list[str]], name: str, start: int, report: ReplayReport) -> None:
    """Lines after the first blank line of a report export are its footer (totals,
    copyright): counted, reported once, not replayed."""
    footer = sum(1 for cells in reader if any(cell.strip() for cell in cells))
    if footer:
        report.warn(name, start, "footer_skipped",
                    f"{footer} non-blank lines after this blank line read as the report "
                    "footer (skip_footer)")


def _header_index(header: list[str], columns: dict[str, str], name: str) -> dict[str, int]:
    positions: dict[str, int] = {}
    for i, title in enumerate(header):
        positions.setdefault(fold(title), i)
    index, missing = {}, []
    for field_name, title in columns.items():
        if fold(title) in positions:
            index[field_name] = positions[fold(title)]
        else:
            missing.append(f"{title!r} ({field_name})")
    if missing:
        found = ", ".join(repr(h) for h in header)
        raise ReplayError(f"{name}: the mapping names columns not in the header: "
                          f"{', '.join(missing)}; the header has {found}")
    return index
