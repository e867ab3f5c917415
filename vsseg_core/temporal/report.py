"""Human-readable views of policy evaluations (``evaluate_policy`` records): a text table and
an accuracy-versus-speed plot."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: draws to files, never needs a display

from vsseg_core.temporal.video import STAGES

_FAMILY_STYLE = {"per_frame": ("black", "s"), "fixed": ("tab:blue", "o"),
                 "adaptive": ("tab:orange", "^"), "budget": ("tab:green", "D")}


def short_policy(policy: str) -> str:
    """'adaptive:0.510578' -> 'adaptive:0.511' (labels only; records keep the exact spec)."""
    return re.sub(r"\d+\.\d+", lambda m: f"{float(m.group()):.3g}", policy)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def policy_table(records: Sequence[dict]) -> str:
    """One row per record: policy, mIoU %, TC %, keyframe ratio %, fps, latency mean/p95 ms,
    and speed-up / mIoU change relative to the per_frame record (if there is one)."""
    base = next((r for r in records if r["policy"] == "per_frame"), None)
    header = (f"{'policy':<16} {'mIoU %':>7} {'TC %':>6} {'key %':>6} {'fps':>7} {'mean ms':>8} "
              f"{'p95 ms':>7} {'speed-up':>8} {'dmIoU':>6}")
    lines = [header, "-" * len(header)]
    for r in records:
        speedup = delta = ""
        if base is not None:
            speedup = f"{r['fps'] / base['fps']:.2f}x"
            if r["miou"] is not None and base["miou"] is not None:
                delta = f"{100 * (r['miou'] - base['miou']):+.1f}"
        lines.append(f"{short_policy(r['policy']):<16} {_pct(r['miou']):>7} {_pct(r['tc']):>6} "
                     f"{100 * r['keyframe_ratio']:>6.1f} {r['fps']:>7.1f} "
                     f"{r['latency_ms']['mean']:>8.1f} {r['latency_ms']['p95']:>7.1f} "
                     f"{speedup:>8} {delta:>6}")
    return "\n".join(lines)


def stage_table(records: Sequence[dict]) -> str:
    """Mean ms per stage for keyframes and for propagated frames of every record (what each
    frame type pays), one row per (policy, frame type) that occurred."""
    header = f"{'policy':<16} {'frames':<10} " + " ".join(f"{s:>11}" for s in STAGES)
    lines = [header, "-" * len(header)]
    for r in records:
        for kind, means in (r.get("stage_mean_ms_by_type") or {}).items():
            if means is not None:
                lines.append(f"{short_policy(r['policy']):<16} {kind:<10} "
                             + " ".join(f"{means[s]:>11.1f}" for s in STAGES))
    return "\n".join(lines)


def shortfall_notes(records: Sequence[dict]) -> str:
    """A 'note:' line for every record whose policy fell short of what it was asked (a budget
    below the cost of a propagated frame); empty when none did."""
    return "\n".join(f"note: {r['policy']}: {r['shortfall']}" for r in records if r.get("shortfall"))


def plot_policies(records: Sequence[dict], path: str | Path, *, title: str = "") -> None:
    """Two panels: mIoU against frames/s, and mIoU against keyframe ratio (fixed and adaptive
    policies compared at equal ratios). Written as PNG to ``path``."""
    fig = Figure(figsize=(12, 5), dpi=110)
    speed, ratio = fig.subplots(1, 2)
    for r in records:
        if r["miou"] is None:
            continue
        color, marker = _FAMILY_STYLE.get(r["policy"].split(":")[0], ("grey", "x"))
        for axis, x in ((speed, r["fps"]), (ratio, 100 * r["keyframe_ratio"])):
            axis.scatter(x, 100 * r["miou"], color=color, marker=marker, s=60, zorder=3)
            axis.annotate(short_policy(r["policy"]), (x, 100 * r["miou"]), textcoords="offset points",
                          xytext=(6, 4), fontsize=8)
    for family in ("fixed", "adaptive"):
        rows = sorted((r for r in records if r["policy"].startswith(family) and r["miou"] is not None),
                      key=lambda r: r["keyframe_ratio"])
        if len(rows) > 1:
            color = _FAMILY_STYLE[family][0]
            ratio.plot([100 * r["keyframe_ratio"] for r in rows], [100 * r["miou"] for r in rows],
                       color=color, label=family, zorder=2)
            speed.plot([r["fps"] for r in rows], [100 * r["miou"] for r in rows], color=color,
                       label=family, zorder=2)
    speed.set(xlabel="throughput (frames/s, higher is faster)", ylabel="mIoU (%)",
              title="accuracy vs speed")
    ratio.set(xlabel="keyframes (% of frames)", ylabel="mIoU (%)",
              title="accuracy vs keyframe ratio")
    for axis in (speed, ratio):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
