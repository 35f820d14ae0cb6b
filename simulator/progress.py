"""A small progress bar on stderr for long replays: redrawn every whole percent."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 24


class Progress:
    """Shows ``label [####....]  42%  12,345 rows  5,400 rows/s`` as work advances."""

    def __init__(self, label: str, total: int, out: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total = label, max(total, 1)
        self.out = out if out is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        self.shown = -1

    def update(self, done: int, rows: int) -> None:
        """``done`` of ``total`` units (bytes) processed, ``rows`` rows so far."""
        percent = min(100, done * 100 // self.total)
        if percent <= self.shown:
            return
        self.shown = percent
        elapsed = self.clock() - self.started
        rate = rows / elapsed if elapsed > 0 else 0.0
        filled = WIDTH * percent // 100
        bar = "#" * filled + "." * (WIDTH - filled)
        self.out.write(f"\r{self.label} [{bar}] {percent:3d}%  {rows:,} rows  {rate:,.0f} rows/s")
        self.out.flush()

    def close(self) -> None:
        """End the bar's line (if anything was drawn)."""
        if self.shown >= 0:
            self.out.write("\n")
            self.out.flush()
