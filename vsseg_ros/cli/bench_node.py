r"""Benchmark vsseg_node end to end: a publisher in this process sends --size rgb8 frames at
--rate Hz to the node in another process; every mask's
latency (image published -> mask received) is split into transport, conversion, segmentation
(vsseg_core: pre/post-processing and the network) and publish.

Both processes load the Fast DDS profile named by FASTRTPS_DEFAULT_PROFILES_FILE, if set;
without it the node loads config/fastdds_large_frames.xml for its own participant (vsseg_ros.dds).

examples (the numbers in docs/benchmarks.md):
  vsseg bench-node --size 1024x2048 --rate 5 --frames 100 --json out/bench_node.json
  FASTRTPS_DEFAULT_PROFILES_FILE=config/fastdds_large_frames.xml \
      vsseg bench-node --size 1024x2048 --rate 5 --frames 100 --json out/bench_node_shm.json
"""

from __future__ import annotations

import argparse

import numpy as np
import rclpy
from tqdm import tqdm

from vsseg_core.cli.args import output_file_arg, size_arg
from vsseg_core.cli.output import write_json
from vsseg_core.errors import ConfigError, VssegError
from vsseg_core.machine import describe_machine
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.generator import iter_sequence
from vsseg_core.temporal.evaluate import latency_summary
from vsseg_ros.dds import dds_profile
from vsseg_ros.probe import FrameRecord, NodeProbe, isolate_dds, start_node, stop_node

NAME = "bench-node"
HELP = "end-to-end latency of vsseg_node on a real ROS graph"
WARMUP_FRAMES = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=size_arg, default=(1024, 2048), metavar="HxW",
                        help="camera frame size (default 1024x2048)")
    parser.add_argument("--rate", type=float, default=5.0, help="frames/s (default %(default)s)")
    parser.add_argument("--frames", type=int, default=100, help="measured frames (default %(default)s)")
    parser.add_argument("--distinct", type=int, default=8,
                        help="distinct synthetic frames, played in a loop (default %(default)s)")
    parser.add_argument("--input-reliability", choices=("best_effort", "reliable"),
                        default="reliable",
                        help="QoS of the image topic on both sides (default %(default)s: "
                             "best-effort 1024x2048 frames are lost in fragments with the default "
                             "Fast DDS settings; config/fastdds_large_frames.xml fixes that, see "
                             "docs/benchmarks.md)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="node parameter, e.g. --param policy:=fixed (repeatable)")
    parser.add_argument("--json", type=output_file_arg, metavar="FILE", help="also write the results as JSON")


def run(args: argparse.Namespace) -> int:
    """Publish synthetic frames to a vsseg_node process, split every answered frame's latency
    into its parts, print them and write --json; VssegError if under half are answered."""
    if not args.rate > 0 or args.frames < 10 or args.distinct < 1:
        raise ConfigError("--rate must be > 0, --frames >= 10 and --distinct >= 1")
    frames = _synthetic_frames(args.size, args.distinct)
    records, diagnostics = _publish_to_node(args, frames)
    measured = [r for key, r in sorted(records.items())[WARMUP_FRAMES:]
                if r.info is not None and np.isfinite(r.end_to_end)]
    if len(measured) < args.frames // 2:
        raise VssegError(
            f"only {len(measured)} of {args.frames} frames were answered (node: "
            f"{diagnostics.get('frames received', '?')} received, {diagnostics.get('frames dropped', '?')} "
            "dropped while busy); lower --rate")
    result = _result(args, measured, diagnostics)
    _print_result(result, args)
    write_json(args.json, result)
    return 0


def _synthetic_frames(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """``count`` frames (H, W, 3) uint8 RGB of one synthetic sequence of ``size`` (H, W)."""
    height, width = size
    config = SynthConfig(sequences=1, frames=count, height=height, width=width, seed=9090)
    return [f.rgb for f in tqdm(iter_sequence(config, 0), total=count,
                                desc="generating frames", unit="frame")]


def _publish_to_node(args: argparse.Namespace, frames: list[np.ndarray]
                     ) -> tuple[dict[tuple[int, int], FrameRecord], dict[str, str]]:
    """Start vsseg_node, publish WARMUP_FRAMES + --frames images at --rate Hz (``frames`` in a
    loop) and wait 3 s for the last masks; returns the probe's per-frame records (by frame
    index) and the node's latest diagnostics. The node and ROS are shut down however it ends."""
    isolate_dds()
    rclpy.init()
    process = start_node(f"input_reliability:={args.input_reliability}", *args.param,
                         autostart=True)
    probe = NodeProbe(sensor_qos=args.input_reliability == "best_effort")
    try:
        probe.wait_ready(process)
        for index in tqdm(range(WARMUP_FRAMES + args.frames), desc="bench-node", unit="frame"):
            probe.publish(frames[index % len(frames)], index)
            probe.spin_for(1.0 / args.rate)
        probe.spin_for(3.0)
        diagnostics = probe.latest_diagnostics()
    finally:
        probe.close()
        stop_node(process)
        rclpy.try_shutdown()
    return probe.frames, diagnostics


def _result(args: argparse.Namespace, measured: list[FrameRecord], diagnostics: dict[str, str]) -> dict:
    """The bench record: latency (ms) per part, node overhead share, keyframe ratio, setup."""
    parts = {
        "end_to_end": [r.end_to_end for r in measured],
        "transport": [r.end_to_end - r.info.end_to_end_ms for r in measured],
        "conversion": [r.info.conversion_ms for r in measured],
        "segmentation": [r.info.segmentation_ms for r in measured],
        "publish": [r.info.publish_ms for r in measured],
    }
    overhead = np.asarray(parts["end_to_end"]) - np.asarray(parts["segmentation"])
    propagated = [r.end_to_end for r in measured if r.info.served_by_propagation]
    height, width = args.size
    return {
        "size": f"{height}x{width}", "rate_hz": args.rate, "frames_published": args.frames,
        "frames_answered": len(measured), "frames_dropped_by_node": int(diagnostics.get("frames dropped", -1)),
        "keyframe_ratio": float(np.mean([r.info.keyframe for r in measured])),
        "latency_ms": {name: latency_summary(values) for name, values in parts.items()},
        "node_overhead_share": float(overhead.mean() / np.mean(parts["end_to_end"])),
        "propagated_p99_over_p50": (float(np.percentile(propagated, 99) / np.percentile(propagated, 50))
                                    if propagated else None),
        "policy": measured[0].info.policy, "backend": f"{measured[0].info.backend} {measured[0].info.precision}",
        "dds_profile": dds_profile(),
        "machine": describe_machine(diagnostics.get("device", "cpu")),
    }


def _print_result(result: dict, args: argparse.Namespace) -> None:
    """The bench record as a table of latencies (ms) and the two targets."""
    print(f"{result['frames_answered']}/{args.frames} frames answered at {args.rate:g} Hz, "
          f"{result['size']} rgb8, {result['policy']}, {result['backend']}")
    print(f"Fast DDS (this publisher): {result['dds_profile'] or 'default settings (FASTRTPS_DEFAULT_PROFILES_FILE unset; the node loads config/fastdds_large_frames.xml for its own outputs)'}")
    print(f"{'part':<14} {'mean':>8} {'p50':>8} {'p95':>8} {'p99':>8}   (ms)")
    for name, stats in result["latency_ms"].items():
        print(f"{name:<14} {stats['mean']:>8.1f} {stats['p50']:>8.1f} {stats['p95']:>8.1f} {stats['p99']:>8.1f}")
    print(f"node overhead (end-to-end - segmentation): {100 * result['node_overhead_share']:.1f}% "
          "of end-to-end (target <= 10%)")
    if result["propagated_p99_over_p50"] is not None:
        print(f"propagated frames p99/p50: {result['propagated_p99_over_p50']:.2f} (target <= 1.5)")
