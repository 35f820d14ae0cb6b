"""The fixed mmap threshold (agents/malloc_threshold.py), in real processes: large
blocks freed between long-lived small ones go back to the kernel only with it."""

from __future__ import annotations

import subprocess
import sys

# Frees a 4 MiB block (glibc's moving threshold then rises to 4 MiB), makes 64 blocks of
# 1 MiB, each followed by a small block kept alive (malloc'd, not Python's small-object
# arenas), frees the large ones and prints the MiB of resident memory that gave back.
FREE_BETWEEN_LIVE_BLOCKS = """
import resource
import sys
from pathlib import Path
from agents.malloc_threshold import fix_mmap_threshold

def rss_mib():
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20

if sys.argv[1] == "fixed":
    assert fix_mmap_threshold(128), "no glibc mallopt in this process"
warm = bytearray(4 << 20)
del warm
large, kept = [], []
for _ in range(64):
    large.append(bytearray(1 << 20))
    kept.append(bytes(600))
before = rss_mib()
del large
print(before - rss_mib())
"""


def released_mib(threshold: str) -> float:
    run = subprocess.run([sys.executable, "-c", FREE_BETWEEN_LIVE_BLOCKS, threshold],
                         capture_output=True, text=True, check=True)
    return float(run.stdout)


def test_freed_large_blocks_leave_resident_memory_only_under_glibcs_moving_threshold() -> None:
    assert released_mib("moving") < 16
    assert released_mib("fixed") > 56
