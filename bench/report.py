"""Figures to text: percentiles, ratios and the results table (terminal and markdown)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Row:
    """One line of the results table: a measure, its figure, what it is judged by."""

    measure: str
    figure: str
    target: str = ""
    met: bool | None = None  # None: reported, no target

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


HEADERS = ("measure", "figure", "target", "verdict")


def _cells(row: Row) -> tuple[str, ...]:
    return row.measure, row.figure, row.target, row.verdict


def text_table(rows: Sequence[Row]) -> str:
    """An aligned plain-text table for the terminal."""
    lines = [HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
           for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_table(rows: Sequence[Row]) -> str:
    """The same table in GitHub markdown."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def rate(events: int, seconds: float) -> str:
    """``12,345 events/s``."""
    return f"{events / seconds:,.0f} events/s"


def ratio(mine: float, theirs: float) -> str:
    """``0.42x``: how ``mine`` compares with ``theirs`` (three significant digits below
    0.1x, which two decimals would show as 0.00x)."""
    if not theirs:
        return "n/a"
    found = mine / theirs
    return f"{found:.2f}x" if found >= 0.1 else f"{found:.3g}x"
