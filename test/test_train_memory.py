"""keep_freed_memory(): freed large blocks stay mapped for reuse (glibc), checked in fresh
processes so the test session's own allocator is left alone."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                                reason="keep_freed_memory() only changes glibc's malloc")

_RSS_AFTER_FREE = """
import resource
import sys
from pathlib import Path
from vsseg_core.train.memory import keep_freed_memory

def rss_mb():
    return int(Path('/proc/self/statm').read_text().split()[1]) * resource.getpagesize() / 2**20

if sys.argv[1] == 'keep':
    assert keep_freed_memory()
before = rss_mb()
block = b"\x01" * (200 * 2**20)  # malloc'd and written, so every page is resident
held = rss_mb() - before
del block
print(held, rss_mb() - before)
"""


def _rss_growth_mb(mode: str) -> tuple[float, float]:
    """Resident-memory growth (MB) while a 200 MB block is held, and after it is freed."""
    out = subprocess.run([sys.executable, "-c", _RSS_AFTER_FREE, mode], check=True,
                         capture_output=True, text=True).stdout
    held, freed = map(float, out.split())
    return held, freed


def test_freed_block_stays_mapped_only_with_keep_freed_memory() -> None:
    held, freed = _rss_growth_mb("default")
    assert held > 150 and freed < 50  # glibc unmapped the block on free
    held, freed = _rss_growth_mb("keep")
    assert held > 150 and freed > 150  # kept for the next allocation
