"""Benchmark of the synthetic generator: frames/s on one core and the colour-baseline mIoU.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/synth_bench.py [--frames N]``).
Prints a Markdown section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time

import cv2
import numpy as np

from vsseg_core.labels import CLASS_NAMES, label_ids_to_train_ids
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.difficulty import color_baseline_miou
from vsseg_core.synth.generator import generate, iter_sequence


def generator_speed(height: int, frames: int) -> float:
    """Frames/s of ``generate`` (rendering + PNG writing) for one sequence of ``frames``."""
    config = SynthConfig(sequences=1, frames=frames, height=height, width=2 * height, seed=5)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate(config, os.path.join(tmp, "d"))
        return frames / (time.perf_counter() - start)


def baseline(sequences: int, height: int):
    def frames(seed: int):
        config = SynthConfig(sequences=sequences, frames=30, height=height, width=2 * height, seed=seed)
        for seq in range(sequences):
            for item in iter_sequence(config, seq):
                if item.fid.frame % 3 == 0:
                    yield item.rgb, label_ids_to_train_ids(item.label_ids)
    return color_baseline_miou(frames(101), frames(202))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=30, help="frames per speed measurement")
    parser.add_argument("--sequences", type=int, default=10, help="sequences for the colour baseline")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"## Synthetic generator ({datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, pinned to one core)\n")
    print("| size | frames | frames/s (render + PNG write, 1 core) |\n|---|---|---|")
    for height in (512, 1024):
        fps = generator_speed(height, args.frames)
        print(f"| {height}x{2 * height} | {args.frames} | {fps:.2f} |", flush=True)
    confusion = baseline(args.sequences, 256)
    print(f"\nColour baseline (Gaussian naive Bayes on RGB+HSV), fit on {args.sequences} sequences "
          f"(seed 101), scored on {args.sequences} others (seed 202), every 3rd frame, 256x512: "
          f"**mIoU {100 * confusion.miou():.1f}%**\n")
    print("| class | IoU % |\n|---|---|")
    for name, iou in zip(CLASS_NAMES, confusion.iou()):
        print(f"| {name} | {'n/a' if np.isnan(iou) else f'{100 * iou:.1f}'} |")


if __name__ == "__main__":
    main()
