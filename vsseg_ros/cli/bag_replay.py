"""Replay a bag through the real vsseg_node and keep the results in a bag: start the node
(configure + activate), record its outputs together with the bag's own topics, play the bag,
stop, then score the recording like `vsseg bag eval` and write an overlay of the last frame.

example (part of `make demo`):
  vsseg bag from-cityscapes --data out/demo/synth --out out/demo/synth.bag --with-labels
  vsseg bag replay --in out/demo/synth.bag --out out/demo/replay.bag --overlay out/demo/node_overlay.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import rclpy

from vsseg_core.bags.convert import DEFAULT_TOPIC, label_topic
from vsseg_core.bags.evaluate import evaluate_bag
from vsseg_core.bags.io import check_new_bag, open_reader, topics
from vsseg_core.bags.segment import MASK_TOPIC
from vsseg_core.bags.types import image_pixels, typestore
from vsseg_core.cli.args import png_arg
from vsseg_core.errors import VssegError
from vsseg_core.image_io import write_png_atomic
from vsseg_core.temporal.report import policy_table
from vsseg_core.visualize import overlay
from vsseg_ros.bag_live import Recorder, play
from vsseg_ros.probe import (
    NODE,
    OUTPUT_TOPICS,
    describe_diagnostics,
    isolate_dds,
    node_alive,
    spinning,
    start_node,
    stop_node,
)

NAME = "replay"
HELP = "replay a bag through the running node, record its outputs, score them"
READY_TIMEOUT_S = 120.0
TAIL_TIMEOUT_S = 30.0
QUIET_S = 3.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", dest="in_bag", required=True, type=Path, metavar="BAG",
                        help="bag with images on --topic (e.g. from `vsseg bag from-cityscapes`)")
    parser.add_argument("--out", required=True, type=Path, metavar="BAG2", help="new bag: the recording")
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help="image topic (default %(default)s)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1)")
    parser.add_argument("--overlay", type=png_arg, metavar="FILE.png", help="overlay of the last frame")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="node parameter, e.g. --param policy:=fixed (repeatable)")


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise VssegError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def _wait_for_masks(recorder: Recorder, images: int) -> None:
    """Until every image has its mask, or none arrived for QUIET_S (frames the node dropped
    while busy never get one), at most TAIL_TIMEOUT_S."""
    deadline, last, quiet_since = time.monotonic() + TAIL_TIMEOUT_S, -1, time.monotonic()
    while recorder.counts[MASK_TOPIC] < images and time.monotonic() < deadline:
        if recorder.counts[MASK_TOPIC] != last:
            last, quiet_since = recorder.counts[MASK_TOPIC], time.monotonic()
        elif time.monotonic() - quiet_since > QUIET_S:
            return
        time.sleep(0.05)


def run(args: argparse.Namespace) -> int:
    check_new_bag(args.out)
    with open_reader(args.in_bag) as reader:
        recorded = topics(reader)
        images = sum(c.msgcount for c in reader.connections if c.topic == args.topic)
    if args.topic not in recorded:
        raise VssegError(f"bag {args.in_bag} has no topic {args.topic}; pass --topic")
    isolate_dds()
    rclpy.init()
    process = start_node("input_reliability:=reliable", "input_depth:=10", *args.param,
                         autostart=True, image_topic=args.topic)
    try:
        with spinning("vsseg_bag_replay") as node:
            recorder = Recorder(node, args.out, {**recorded, **OUTPUT_TOPICS})
            try:
                _wait(lambda: node_alive(process) and any(
                          info.node_name == NODE
                          for info in node.get_subscriptions_info_by_topic(args.topic)),
                      READY_TIMEOUT_S, f"{NODE} to configure, activate and subscribe to {args.topic}")
                play(node, args.in_bag, rate=args.rate)
                _wait_for_masks(recorder, images)
            finally:
                time.sleep(1.2)  # one more /diagnostics period
                recorder.close()
    finally:
        stop_node(process)
        rclpy.try_shutdown()
    gt = label_topic(args.topic)
    record = evaluate_bag(args.out, image_topic=args.topic, gt_topic=gt if gt in recorded else None)
    print(f"replayed {images} frames of {args.in_bag} through {NODE}; recorded "
          f"{recorder.counts[MASK_TOPIC]} masks into {args.out}")
    print(policy_table([record]))
    print(f"latency (node, segmentation) p50 {record['latency_ms']['p50']:.1f} ms, "
          f"p95 {record['latency_ms']['p95']:.1f} ms")
    diagnostics = _last_diagnostics(args.out)
    if diagnostics:
        print(describe_diagnostics(diagnostics))
    if args.overlay is not None:
        write_png_atomic(args.overlay, _last_overlay(args.out, args.topic))
        print(f"overlay: {args.overlay}")
    return 0


def _last_diagnostics(bag: Path) -> dict[str, str]:
    store, values = typestore(), {}
    with open_reader(bag) as reader:
        connections = [c for c in reader.connections if c.topic == "/diagnostics"]
        for connection, _, raw in reader.messages(connections):
            for status in store.deserialize_cdr(raw, connection.msgtype).status:
                if status.name == f"{NODE}: segmentation":
                    values = {kv.key: kv.value for kv in status.values}
    return values


def _last_overlay(bag: Path, image_topic: str):
    """Overlay of the last recorded mask on the recorded image with the same stamp."""
    store, frames = typestore(), {}
    with open_reader(bag) as reader:
        connections = [c for c in reader.connections if c.topic in (image_topic, MASK_TOPIC)]
        for connection, _, raw in reader.messages(connections):
            message = store.deserialize_cdr(raw, connection.msgtype)
            key = (message.header.stamp.sec, message.header.stamp.nanosec)
            frames.setdefault(key, {})[connection.topic] = message
    both = [f for _, f in sorted(frames.items()) if len(f) == 2]
    if not both:
        raise VssegError(f"{bag} has no mask with its input image; nothing to overlay")
    rgb, mask = image_pixels(both[-1][image_topic]), image_pixels(both[-1][MASK_TOPIC])
    return overlay(rgb if rgb.ndim == 3 else rgb[:, :, None].repeat(3, axis=2), mask)
