"""Keep freed memory inside the process for reuse (glibc malloc): faster CPU training.

A training step allocates and frees the same large buffers every iteration (the full-resolution
logits of a batch of 8 at 256x512 are 80 MB, and their gradients as much again). glibc serves
blocks above its mmap threshold with fresh ``mmap`` calls and unmaps them on free, so every
iteration page-faults tens of megabytes in again. Telling malloc never to use ``mmap`` and never
to trim its heap keeps those pages mapped. On the 2-core build machine this took a training step
of the shipped architecture from 1.34 s to 1.13 s (``benchmarks/train_step_bench.py``,
docs/benchmarks.md). The weights do not change. The cost: the process keeps its peak memory
until it exits, which a training run does anyway. Process-wide, so the training commands call
it, not the library functions.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

_M_TRIM_THRESHOLD = -1  # malloc.h: return heap memory to the OS above this many free bytes
_M_MMAP_MAX = -4  # malloc.h: most blocks served by mmap at once (0: never use mmap)


def keep_freed_memory() -> bool:
    """Apply the settings above; True when glibc accepted them, False where there is no glibc
    (macOS, Windows, musl), which leaves the allocator as it was."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
