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


def gpu_name(device: str) -> str | None:
    """The name of CUDA ``device`` ("cuda" or "cuda:N", e.g. 'NVIDIA H200') as torch sees it;
    None for any other device or when CUDA is not available."""
    if not device.startswith("cuda"):
        return None
    import torch  # only here: describing a CPU machine must not need torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(torch.device(device))


def describe_machine(device: str = "cpu") -> str:
    """Where ``device`` ("cpu", "cuda" or "cuda:N") ran: e.g. 'AMD EPYC 7B13, 2 cores, Linux
    x86_64', and for CUDA 'NVIDIA H200 (CUDA) on AMD EPYC 9654, 16 cores, Linux x86_64'."""
    host = f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"
    gpu = gpu_name(device)
    return host if gpu is None else f"{gpu} (CUDA) on {host}"
