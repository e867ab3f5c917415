"""One-line description of the machine a measurement ran on (for provenance and benchmarks)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU model (e.g. 'AMD EPYC 7B13') from /proc/cpuinfo, else the platform's name."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_machine() -> str:
    """e.g. 'AMD EPYC 7B13, 2 cores, Linux x86_64'."""
    return f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"
