"""Run vsseg_node on a sequence: start the node (configure + activate), publish every frame
as sensor_msgs/Image at --rate Hz, report the masks' rate and latency from /diagnostics and
write one /semantic_overlay picture.

example:
  vsseg node-demo --input out/demo/synth --overlay out/demo/node_overlay.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import rclpy

from vsseg_core.cli.args import png_arg
from vsseg_core.data.sources import open_frames
from vsseg_core.errors import ConfigError, VssegError
from vsseg_core.image_io import write_png_atomic
from vsseg_ros.image_conversion import image_to_array
from vsseg_ros.probe import NodeProbe, describe_diagnostics, isolate_dds, start_node, stop_node

NAME = "node-demo"
HELP = "run vsseg_node on a sequence published as ROS images; print rate and latency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, type=Path,
                        help="Cityscapes-layout root, folder of images or video")
    parser.add_argument("--rate", type=float, default=10.0, help="frames/s published (default %(default)s)")
    parser.add_argument("--overlay", type=png_arg, metavar="FILE.png",
                        help="write the last /semantic_overlay image here")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="node parameter, e.g. --param policy:=fixed (repeatable)")


def run(args: argparse.Namespace) -> int:
    if not args.rate > 0:
        raise ConfigError(f"--rate must be > 0, got {args.rate}")
    source = open_frames(args.input)
    isolate_dds()
    rclpy.init()
    process = start_node(*args.param, autostart=True)
    probe = NodeProbe(sensor_qos=False, overlay=args.overlay is not None)
    try:
        probe.wait_ready(process)
        for index, frame in enumerate(source):
            probe.publish(frame.rgb, index)
            probe.spin_for(1.0 / args.rate)
        last = max(probe.frames)
        probe.spin_until(lambda: probe.frames[last].info is not None, 30.0, "the last mask")
        probe.spin_for(1.5)  # one more /diagnostics period
        diagnostics = probe.latest_diagnostics()
        if not diagnostics:
            raise VssegError("no /diagnostics from vsseg_node")
        overlay = probe.overlays[-1] if probe.overlays else None
    finally:
        probe.close()
        log = stop_node(process)
        rclpy.try_shutdown()
    answered = probe.answered()
    print(f"vsseg_node: {len(probe.frames)} frames published at {args.rate:g} Hz, "
          f"{len(answered)} masks received, {diagnostics['frames dropped']} dropped, "
          f"{diagnostics['frames rejected']} rejected")
    print(describe_diagnostics(diagnostics))
    if args.overlay is not None:
        if overlay is None:
            raise VssegError(f"no /semantic_overlay image arrived; node log:\n{log}")
        write_png_atomic(args.overlay, image_to_array(overlay))
        print(f"overlay: {args.overlay}")
    return 0
