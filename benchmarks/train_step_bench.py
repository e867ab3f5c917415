"""Benchmark of one training step (forward, losses, backward, AdamW) of the shipped architecture
on the CPU, with glibc's default allocator and with ``keep_freed_memory()``.

Each variant runs in a fresh process (the allocator setting is process-wide). Random images
and labels, batch 8 at the shipped input size, so data loading is not included (in
``vsseg train`` it adds about 0.19 s per batch at 256x512).

Run: ``.venv/bin/python benchmarks/train_step_bench.py [--steps N] [--repeats R]``; prints a
Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys

_STEP = """
import json, sys, time
import torch
from vsseg_core.bundle import Bundle
from vsseg_core.model.pspnet import PSPNet
from vsseg_core.train.loop import TrainConfig, segmentation_loss
from vsseg_core.train.memory import keep_freed_memory

keep, steps = sys.argv[1] == "keep", int(sys.argv[2])
applied = keep_freed_memory() if keep else False
torch.manual_seed(0)
arch = Bundle.load().config  # the shipped architecture
model = PSPNet(arch).train()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
images = torch.rand(8, 3, *arch.input_size) * 255
labels = torch.randint(0, arch.num_classes, (8, *arch.input_size))
aux_weight = TrainConfig(data="").aux_weight  # what vsseg train uses by default

def step():
    loss = segmentation_loss(model, images, labels, None, aux_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()

for _ in range(3):  # warm-up: oneDNN primitive creation, first-touch of the buffers
    step()
start = time.perf_counter()
for _ in range(steps):
    step()
print(json.dumps({"applied": applied, "seconds_per_step": (time.perf_counter() - start) / steps}))
"""


def seconds_per_step(keep: bool, steps: int) -> tuple[float, bool]:
    out = subprocess.run([sys.executable, "-c", _STEP, "keep" if keep else "default", str(steps)],
                         check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds_per_step"], result["applied"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per process (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="processes per variant, alternating (default %(default)s)")
    args = parser.parse_args()
    times: dict[bool, list[float]] = {False: [], True: []}
    applied = False
    for _ in range(args.repeats):
        for keep in (False, True):
            seconds, ok = seconds_per_step(keep, args.steps)
            times[keep].append(seconds)
            applied = applied or ok
    print(f"Measured {datetime.date.today()}, {args.repeats} processes x {args.steps} steps per "
          f"variant (keep_freed_memory applied: {applied}).\n")
    print("| allocator | s/step (median) | runs |")
    print("|---|---|---|")
    for keep, label in ((False, "glibc default"), (True, "keep_freed_memory()")):
        runs = ", ".join(f"{t:.2f}" for t in times[keep])
        print(f"| {label} | {statistics.median(times[keep]):.2f} | {runs} |")


if __name__ == "__main__":
    main()
