"""Record topics of the live ROS 2 graph into a new bag (receive-time stamps) until Ctrl-C or
--duration; the bag stays readable when stopped.

example (the node's outputs):
  vsseg bag record --out out/live.bag --duration 30
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

import rclpy

from vsseg_core.bags.io import STORAGES
from vsseg_ros.bag_live import Recorder
from vsseg_ros.probe import OUTPUT_TOPICS, spinning

NAME = "record"
HELP = "record live topics (default: the node's outputs) into a bag"


def _topic_arg(text: str) -> tuple[str, str]:
    topic, _, msgtype = text.partition(":")
    if not topic.startswith("/") or msgtype.count("/") != 2:
        raise argparse.ArgumentTypeError(f"{text!r}: use TOPIC:TYPE, e.g. "
                                         "/camera/image_raw:sensor_msgs/msg/Image")
    return topic, msgtype


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, metavar="BAG", help="new bag directory")
    parser.add_argument("--topic", action="append", type=_topic_arg, metavar="TOPIC:TYPE",
                        help="topic and type, e.g. /camera/image_raw:sensor_msgs/msg/Image "
                             "(repeatable; default: the node's mask, info and diagnostics)")
    parser.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl-C)")
    parser.add_argument("--storage", choices=STORAGES, default="sqlite3", help="default %(default)s")


def run(args: argparse.Namespace) -> int:
    topics = dict(OUTPUT_TOPICS)
    if args.topic:
        topics = dict(args.topic)
    stop = threading.Event()
    rclpy.init()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with spinning("vsseg_bag_record") as node:
            recorder = Recorder(node, args.out, topics, args.storage)
            print(f"recording {', '.join(topics)} into {args.out}", flush=True)
            try:
                stop.wait(args.duration)
            except KeyboardInterrupt:
                pass
            finally:
                recorder.close()
    finally:
        rclpy.try_shutdown()
    print(f"wrote {args.out}: " + ", ".join(f"{t} {n}" for t, n in recorder.counts.items()))
    return 0
