"""Accuracy against mean latency for candidate networks, per_frame and keyframe policies: the
plot the shipped architecture is chosen from.

Run from the repository root on the JSON files `vsseg bench --json` wrote for each candidate
(same data, same machine, measured one after the other with nothing else running):

    .venv/bin/python benchmarks/pareto.py out/bench_os16.json out/bench_os8.json \
        --names "OS16 (previous default)","OS8 fine-tuned" --plot docs/images/pareto.png

Prints a Markdown table (candidate, policy, mIoU %, mean ms, keyframes %) and marks the points
on the Pareto front (no other point is both faster and more accurate).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matplotlib.figure import Figure

from vsseg_core.temporal.report import short_policy

MARKERS = {"per_frame": "s", "fixed": "o", "adaptive": "^", "budget": "D"}
"""Marker of each policy family in the plot."""


def load(paths: list[Path], names: list[str]) -> list[dict]:
    """One row per (candidate, policy): name, policy, miou (%), mean_ms, keyframe_ratio (%)."""
    rows = []
    for path, name in zip(paths, names):
        for record in json.loads(path.read_text())["policies"]:
            rows.append({"candidate": name, "policy": record["policy"],
                         "miou": 100 * record["miou"], "mean_ms": record["latency_ms"]["mean"],
                         "keyframes": 100 * record["keyframe_ratio"]})
    return rows


MIOU_TIE = 0.05
"""mIoU points within which two rows count as equally accurate (the tables print one decimal;
the same weights give mIoUs that differ by float rounding between post-processing paths)."""


def dominates(other: dict, row: dict) -> bool:
    """``other`` is at least as fast and as accurate (within MIOU_TIE) as ``row`` and better in
    one of the two."""
    return (other["mean_ms"] <= row["mean_ms"] and other["miou"] >= row["miou"] - MIOU_TIE
            and (other["mean_ms"] < row["mean_ms"] or other["miou"] > row["miou"] + MIOU_TIE))


def pareto_front(rows: list[dict]) -> set[int]:
    """Indices of rows that no other row dominates (faster and as accurate, or more accurate
    and as fast)."""
    return {i for i, r in enumerate(rows) if not any(dominates(o, r) for o in rows)}


def table(rows: list[dict], front: set[int]) -> str:
    lines = ["| candidate | policy | mIoU % | mean ms | keyframes % | Pareto |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['candidate']} | {r['policy']} | {r['miou']:.1f} | {r['mean_ms']:.1f} | "
              f"{r['keyframes']:.1f} | {'yes' if i in front else ''} |" for i, r in enumerate(rows)]
    return "\n".join(lines)


def plot(rows: list[dict], names: list[str], front: set[int], path: Path) -> None:
    """One colour per candidate, one marker per policy family (per_frame, fixed, adaptive,
    budget), each point labelled with its policy; the Pareto front as a dashed step line."""
    fig = Figure(figsize=(8, 5), dpi=110)
    axis = fig.subplots()
    for index, name in enumerate(names):
        mine = [r for r in rows if r["candidate"] == name]
        for family, marker in MARKERS.items():
            points = [r for r in mine if r["policy"].split(":")[0] == family]
            axis.plot([r["mean_ms"] for r in points], [r["miou"] for r in points], color=f"C{index}",
                      marker=marker, linestyle="none", alpha=0.8,
                      label=name if family == "per_frame" else None)
        for r in mine:
            axis.annotate(short_policy(r["policy"]).replace("adaptive", "a"), (r["mean_ms"], r["miou"]),
                          textcoords="offset points", xytext=(4, 3), fontsize=7)
    best = sorted((rows[i] for i in front), key=lambda r: r["mean_ms"])
    axis.step([r["mean_ms"] for r in best], [r["miou"] for r in best], where="post", color="black",
              linewidth=1, linestyle="--", label="Pareto front")
    axis.set(xlabel="mean latency per frame (ms, lower is faster)", ylabel="mIoU (%)",
             title="candidates x keyframe policies (square per_frame, circle fixed, "
                   "triangle adaptive)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benches", nargs="+", type=Path, help="`vsseg bench --json` files")
    parser.add_argument("--names", help="candidate names, comma-separated (default: file stems)")
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)
    names = args.names.split(",") if args.names else [p.stem for p in args.benches]
    if len(names) != len(args.benches):
        parser.error(f"--names: {len(names)} names for {len(args.benches)} files")
    missing = [p for p in args.benches if not p.is_file()]
    if missing:
        parser.error(f"{missing[0]} does not exist; write it with `vsseg bench --json`")
    rows = load(args.benches, names)
    front = pareto_front(rows)
    print(table(rows, front))
    if args.plot:
        plot(rows, names, front, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
