"""A fixed mmap threshold for glibc's malloc, so large transient buffers leave no
resident pages behind.

glibc serves a block of at least the mmap threshold (128 KiB at first) with its own
mapping, unmapped when freed. But each time such a block is freed, glibc raises the
threshold to that block's size (up to 32 MiB): after the first 1 MiB fetch response, every
later fetch response, producer batch and compression buffer comes from the heap. Freed
there, between long-lived states, its pages stay resident. Measured on the memory phase
alone (20,000-event corpus, then 200,000 open deals of 10,000 reps; README, Benchmarks):
peak RSS 394 MiB with glibc's moving threshold, 335 MiB with a fixed 128 KiB.

Setting the threshold through ``mallopt`` also stops glibc moving it (and the trim
threshold with it), exactly as the ``GLIBC_TUNABLES`` variable
``glibc.malloc.mmap_threshold`` does at process start.
"""

from __future__ import annotations

import ctypes
import logging

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
MAX_THRESHOLD_KB = 32 * 1024  # glibc's own largest (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit)
THRESHOLD_KB = 128  # the worker's default: glibc's own starting threshold, kept fixed

log = logging.getLogger(__name__)


def fix_mmap_threshold(kb: int) -> bool:
    """Serve blocks of ``kb`` KiB and more from their own mappings from now on, with the
    threshold fixed there. Returns False where the C library has no glibc ``mallopt``
    (musl, macOS) or refuses the size: nothing changes then."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        log.info("no glibc mallopt in this process: malloc's mmap threshold left as it is")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if not mallopt(M_MMAP_THRESHOLD, kb * 1024):
        log.warning("glibc refused an mmap threshold of %d KiB: left as it is", kb)
        return False
    return True
