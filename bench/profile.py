"""Where the product worker spends its time: py-spy samples it while it works, and the
collapsed stacks of its event-loop thread become a function-level table (share of that
thread's samples). The consumer thread waits in ``select`` nearly all the time; counted
with the rest, it made the busy event loop look half idle."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.report import Row

# "fn (module/path.py:123)" frames in py-spy's collapsed ("raw") format.
_FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")
_SITE = re.compile(r".*/(site-packages|lib/python3\.\d+)/")


def start_sampling(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes] | None:
    """Sample ``pid`` for ``seconds`` into ``out`` (collapsed stacks); None without py-spy."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return None
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
         "--duration", str(max(1, int(seconds))), "--rate", "50", "--nonblocking", "--idle",
         "--threads"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop_sampling(sampler: subprocess.Popen[bytes]) -> None:
    """Stop sampling now: py-spy writes what it has on SIGINT. A run shorter than
    ``--profile-seconds`` would otherwise add the worker's idle time after it."""
    if sampler.poll() is None:
        sampler.send_signal(signal.SIGINT)
    sampler.wait()


def _name(frame: str) -> str:
    found = _FRAME.match(frame)
    if not found:
        return frame
    where = _SITE.sub("", found["file"]).removeprefix(str(Path.cwd()) + "/")
    return f"{found['fn']} ({where})"


def main_thread(collapsed: str) -> str:
    """The event-loop thread's stacks (``--threads`` output: each stack starts with
    ``thread (id): name``), without that first frame; every stack when none is named."""
    kept = [line.split(";", 1)[1] for line in collapsed.splitlines()
            if line.startswith("thread (") and line.split(";", 1)[0].endswith(": MainThread")
            and ";" in line]
    return "\n".join(kept) if kept else collapsed


def hot_spots(collapsed: str) -> tuple[list[tuple[str, float, float]], int]:
    """``(function, inclusive share, self share)`` of every sampled function, and the
    number of samples (idle time included: shares are of wall time)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";")]
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    shares = [(name, n / total, own[name] / total) for name, n in inclusive.most_common()]
    return shares, total


PROJECT = ("(agents/", "(streams/", "(schemas/")


def profile_rows(collapsed: str, top: int = 12) -> list[Row]:
    """The hot spots as table rows: the ``top`` functions by self share (where the
    time goes, waiting included), then Latitude's own functions by inclusive share."""
    shares, total = hot_spots(main_thread(collapsed))
    if not total:
        return []
    by_self = sorted(shares, key=lambda s: -s[2])[:top]
    own_code = [s for s in shares if any(p in s[0] for p in PROJECT)][:top]
    return [Row(f"`{name}`", f"{inc:.1%} incl, {own:.1%} self", f"of {total} event-loop samples")
            for name, inc, own in [*by_self, *own_code]]
