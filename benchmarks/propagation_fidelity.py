"""Propagation fidelity by keyframe distance: how much a propagated frame loses against its
keyframe, per bundle (and so per propagation mode and network).

Run from the repository root, e.g.:

    .venv/bin/python benchmarks/propagation_fidelity.py --data data/synth_mixed --split val \
        --models vsseg_core/default_model,runs/os16_kernel --plot docs/images/fidelity.png

For every sequence of ``--data`` and keyframes at three places in it, each of the next
``--max-distance`` frames is propagated from the keyframe (the bundle's own propagation mode,
PyTorch, fp32: deterministic) and scored against its labels; so is the full network on the
keyframes. This is the measurement ``vsseg train-propagation`` calibrates with
(``train.keyframe_rules.calibrate``), run on data the bundle was not calibrated on. Prints a
Markdown table (propagated mIoU % by distance, keyframe mIoU %, and the drop at distance 5);
``--json`` keeps the records, ``--plot`` draws mIoU against distance.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from matplotlib.figure import Figure

from vsseg_core.bundle import Bundle
from vsseg_core.data.cityscapes import CityscapesDataset
from vsseg_core.errors import VssegError
from vsseg_core.machine import describe_machine
from vsseg_core.runtime.torch_backend import load_model, load_propagation
from vsseg_core.train.keyframe_rules import calibrate
from vsseg_core.train.propagation import FrameCache


def measure(root: str, data: str, split: str, max_distance: int) -> dict:
    """{model, mode, architecture, keyframe_miou, by_distance [{distance, miou, ...}]} for the
    bundle at ``root`` on ``data``/``split`` (mIoU as fractions 0-1)."""
    bundle = Bundle.load(root)
    model, propagation = load_model(bundle), load_propagation(bundle)
    if propagation is None:
        raise VssegError(f"{root} has no propagation; run `vsseg train-propagation` on it")
    cache = FrameCache.from_dataset(CityscapesDataset(data, split), bundle.input_size, min_length=2)
    scale = (bundle.temporal or {}).get("flow_scale", 0.5)
    record = calibrate(model, propagation, cache, max_distance=max_distance, flow_scale=scale)
    calibration = record["calibration"]
    return {"model": root, "mode": bundle.propagation["mode"],
            "output_stride": bundle.config.output_stride,
            "keyframe_miou": calibration["keyframe_miou"], "by_distance": calibration["by_distance"]}


def label(record: dict) -> str:
    return f"{Path(record['model']).name} (OS{record['output_stride']}, {record['mode']})"


def table(records: list[dict], max_distance: int) -> str:
    distances = range(1, max_distance + 1)
    lines = ["| model | keyframes | " + " | ".join(f"d{d}" for d in distances) + " | d5 - keyframes |",
             "|---|---|" + "---|" * max_distance + "---|"]
    for r in records:
        by = {row["distance"]: 100 * row["miou"] for row in r["by_distance"]}
        key = 100 * r["keyframe_miou"]
        drop = f"{by[5] - key:+.1f}" if 5 in by else "n/a"
        lines.append(f"| {label(r)} | {key:.1f} | "
                     + " | ".join(f"{by[d]:.1f}" if d in by else "–" for d in distances)
                     + f" | {drop} |")
    return "\n".join(lines)


def plot(records: list[dict], path: Path, title: str) -> None:
    fig = Figure(figsize=(7, 4.5), dpi=110)
    axis = fig.subplots()
    for index, r in enumerate(records):
        color = f"C{index}"
        rows = r["by_distance"]
        axis.plot([row["distance"] for row in rows], [100 * row["miou"] for row in rows],
                  marker="o", color=color, label=label(r))
        axis.axhline(100 * r["keyframe_miou"], color=color, linestyle=":", linewidth=1)
    axis.set(xlabel="frames since the keyframe", ylabel="mIoU of propagated frames (%)",
             title=title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True, help="bundle directories, comma-separated")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--max-distance", type=int, default=10)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)
    if args.max_distance < 1:
        parser.error(f"--max-distance must be >= 1, got {args.max_distance}")
    try:
        records = [measure(m, args.data, args.split, args.max_distance)
                   for m in args.models.split(",") if m]
    except VssegError as exc:
        print(f"propagation_fidelity: error: {exc}", file=sys.stderr)
        return 1
    stamp = f"{datetime.date.today()}, {describe_machine('cpu')}, PyTorch fp32"
    print(f"Propagated mIoU % by keyframe distance on {args.data} ({args.split}); {stamp}\n")
    print(table(records, args.max_distance))
    if args.json:
        args.json.write_text(json.dumps({"data": args.data, "records": records}, indent=2) + "\n")
    if args.plot:
        plot(records, args.plot, f"propagation fidelity on {Path(args.data).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
