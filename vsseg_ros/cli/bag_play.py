"""Publish a bag's topics to the live ROS 2 graph with their original timing (for users
without `ros2 bag`); --clock also publishes /clock for nodes with use_sim_time.

example:
  vsseg bag play out/heldout.bag --rate 0.5 --loop --clock
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

import rclpy

from vsseg_core.errors import ConfigError
from vsseg_ros.bag_live import play
from vsseg_ros.probe import spinning

NAME = "play"
HELP = "publish a bag's topics to the live graph (original timing, optional /clock)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="rosbag2 directory")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1)")
    parser.add_argument("--loop", action="store_true", help="start again at the end (Ctrl-C stops)")
    parser.add_argument("--clock", action="store_true", help="also publish /clock")
    parser.add_argument("--topics", nargs="+", metavar="TOPIC", help="only these topics")
    parser.add_argument("--delay", type=float, default=1.0,
                        help="wait up to this many seconds for every topic to have a subscriber "
                             "before the first message (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    if not args.rate > 0:
        raise ConfigError(f"--rate must be > 0, got {args.rate}")
    stop = threading.Event()
    rclpy.init()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with spinning("vsseg_bag_play") as node:
            try:
                count = play(node, args.bag, rate=args.rate, loop=args.loop, clock=args.clock,
                             topics=args.topics, delay_s=args.delay, stop=stop)
            except KeyboardInterrupt:
                stop.set()
                count = None
    finally:
        rclpy.try_shutdown()
    print(f"played {args.bag}" + (f": {count} messages" if count is not None else " (stopped)"))
    return 0
