"""How much mIoU the output resolution alone allows: the ground truth seen through a stride grid.

Run: ``.venv/bin/python benchmarks/resolution_ceiling.py --data data/synth_heldout --split val``
Prints a Markdown table for docs/benchmarks.md.

For each stride s the labels are turned into per-class area fractions on the s x s grid
(average pooling of the one-hot labels, the best a stride-s predictor could know), upsampled
bilinearly to the label resolution exactly as the network upsamples its logits, and scored by
argmax against the labels. A network whose decisions live on that grid rarely does better, so
the number is an indicative ceiling (not a strict bound: learned logits can place an edge more
sharply than the area fractions do).
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np
import torch
import torch.nn.functional as F

from vsseg_core.data.cityscapes import CityscapesDataset, DatasetError
from vsseg_core.labels import CLASS_NAMES, IGNORE_ID, NUM_CLASSES
from vsseg_core.metrics import ConfusionMatrix
from vsseg_core.train.data import labelled_frames


def seen_through_grid(labels: np.ndarray, stride: int) -> np.ndarray:
    """(H, W) uint8 trainIds -> (H, W) uint8 argmax of the bilinearly upsampled per-class area
    fractions on the ``stride`` grid (H and W must divide by ``stride``)."""
    valid = torch.from_numpy(labels != IGNORE_ID)
    index = torch.from_numpy(np.where(labels == IGNORE_ID, 0, labels).astype(np.int64))
    onehot = F.one_hot(index, NUM_CLASSES).permute(2, 0, 1).float() * valid
    fractions = F.avg_pool2d(onehot[None], stride)
    up = F.interpolate(fractions, size=labels.shape, mode="bilinear", align_corners=False)
    return up[0].argmax(0).numpy().astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="Cityscapes-layout root with labels")
    parser.add_argument("--split", default="val")
    parser.add_argument("--strides", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--every", type=int, default=3, help="score every Nth labelled frame")
    args = parser.parse_args()
    if min(args.strides) < 1 or args.every < 1:
        parser.error("--strides and --every must be >= 1")
    scores = {s: ConfusionMatrix() for s in args.strides}
    try:
        frames = labelled_frames(CityscapesDataset(args.data, args.split))[::args.every]
        for record in frames:
            labels = record.load_labels()
            assert labels is not None  # labelled_frames() only
            if bad := [s for s in args.strides if labels.shape[0] % s or labels.shape[1] % s]:
                strides = ", ".join(map(str, bad))
                raise DatasetError(f"{record.label_path}: {labels.shape[0]}x{labels.shape[1]} "
                                   f"labels do not divide by stride {strides}; choose strides "
                                   "that divide both sides")
            for stride, confusion in scores.items():
                confusion.update(seen_through_grid(labels, stride), labels)
    except DatasetError as exc:
        parser.exit(1, f"error: {exc}\n")
    size = labels.shape
    print(f"Resolution ceiling, {args.data} ({args.split}), {len(frames)} frames at "
          f"{size[0]}x{size[1]}, {datetime.date.today()}\n")
    print("| class | " + " | ".join(f"stride {s}" for s in args.strides) + " |")
    print("|---|" + "---|" * len(args.strides))
    ious = {s: c.iou() for s, c in scores.items()}
    for k, name in enumerate(CLASS_NAMES):
        if all(np.isnan(ious[s][k]) for s in args.strides):
            continue
        print(f"| {name} | " + " | ".join(f"{100 * ious[s][k]:.1f}" for s in args.strides) + " |")
    print("| **mIoU** | " + " | ".join(f"**{100 * scores[s].miou():.1f}**" for s in args.strides)
          + " |")


if __name__ == "__main__":
    main()
