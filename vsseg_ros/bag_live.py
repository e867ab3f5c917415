"""Bags <-> the live ROS 2 graph without `ros2 bag`: play a bag's topics with their original
timing (optionally /clock for use_sim_time), and record topics into a new bag.

Messages travel as serialized CDR on both sides (rclpy raw publish/subscribe; rosbags stores
the same bytes), so any type whose Python message package is installed can be played or
recorded.
"""

from __future__ import annotations

import importlib
import queue
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader
from rosgraph_msgs.msg import Clock

from vsseg_core.bags.io import BagError, check_new_bag, open_reader, open_writer
from vsseg_core.bags.types import typestore

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
ACK_TIMEOUT_S = 5.0
"""How long `play` waits, at the end, for subscribers to acknowledge what it published."""


def message_class(msgtype: str):
    """"sensor_msgs/msg/Image" -> the rclpy message class (BagError if not installed)."""
    package, _, name = msgtype.rpartition("/")
    try:
        return getattr(importlib.import_module(package.replace("/", ".")), name)
    except (ImportError, AttributeError) as exc:
        raise BagError(f"message type {msgtype} is not installed for rclpy; install its "
                       "package or leave its topic out") from exc


def play(node: Node, bag: str | Path, *, rate: float = 1.0, loop: bool = False,
         clock: bool = False, topics: list[str] | None = None, delay_s: float = 1.0,
         stop: threading.Event | None = None, on_message=None) -> int:
    """Publish ``bag``'s messages (``topics``, default all) at ``rate`` x their recorded pace,
    once every topic has a subscriber or ``delay_s`` after creating the publishers (so
    subscribers discover them first); returns the number published. ``stop`` ends early;
    ``on_message(topic)`` runs after each message. Before returning it waits up to
    ACK_TIMEOUT_S for subscribers to acknowledge everything (a process that exits right after
    publishing would otherwise lose its last messages) and logs a warning if they did not."""
    if not rate > 0:
        raise BagError(f"--rate must be > 0, got {rate}")
    stop = stop or threading.Event()
    published = 0
    with open_reader(bag) as reader:
        connections = _connections(reader, bag, topics)
        publishers = {c.id: node.create_publisher(message_class(c.msgtype), c.topic, RELIABLE)
                      for c in connections}
        clock_pub = node.create_publisher(Clock, "/clock", 10) if clock else None
        _wait_for_subscribers(publishers.values(), delay_s, stop)
        while not stop.is_set():
            published += _play_once(reader, connections, publishers, clock_pub, rate, stop, on_message)
            if not loop:
                break
        _wait_for_acks(node, connections, publishers)
    return published


def _connections(reader: Reader, bag: str | Path, topics: list[str] | None) -> list[Connection]:
    """The bag's connections on ``topics`` (None: all); BagError naming any topic it lacks."""
    connections = [c for c in reader.connections if topics is None or c.topic in topics]
    missing = set(topics or ()) - {c.topic for c in connections}
    if missing:
        raise BagError(f"bag {bag} has no topic {', '.join(sorted(missing))}")
    return connections


def _wait_for_subscribers(publishers: Iterable[Publisher], delay_s: float, stop: threading.Event) -> None:
    """Until every publisher has a subscriber, ``stop`` is set or ``delay_s`` seconds passed."""
    deadline = time.monotonic() + delay_s
    while time.monotonic() < deadline and not stop.is_set() and not all(
            p.get_subscription_count() > 0 for p in publishers):
        stop.wait(0.05)


def _play_once(reader: Reader, connections: list[Connection], publishers: dict[int, Publisher],
               clock_pub: Publisher | None, rate: float, stop: threading.Event, on_message) -> int:
    """One pass over the bag's messages on ``connections``, each published (with /clock at its
    stamp when ``clock_pub``) at ``rate`` x the recorded pace from now; returns the number
    published, fewer when ``stop`` is set."""
    published = 0
    start_wall, start_bag = time.monotonic(), None
    for connection, timestamp, raw in reader.messages(connections):
        start_bag = timestamp if start_bag is None else start_bag
        delay = (timestamp - start_bag) / 1e9 / rate - (time.monotonic() - start_wall)
        if stop.wait(max(0.0, delay)):
            break
        if clock_pub is not None:
            message = Clock()
            message.clock.sec, message.clock.nanosec = divmod(timestamp, 1_000_000_000)
            clock_pub.publish(message)
        publishers[connection.id].publish(bytes(raw))
        published += 1
        if on_message is not None:
            on_message(connection.topic)
    return published


def _wait_for_acks(node: Node, connections: list[Connection], publishers: dict[int, Publisher]) -> None:
    """Wait up to ACK_TIMEOUT_S per topic for its subscribers to acknowledge every message;
    log a warning for each topic where they did not."""
    for connection in connections:
        if not publishers[connection.id].wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S)):
            node.get_logger().warning(f"{connection.topic}: not every message was acknowledged "
                                      f"within {ACK_TIMEOUT_S:g} s; a subscriber may have missed some")


class Recorder:
    """Subscribes to ``topics`` (name -> message type, e.g. "sensor_msgs/msg/Image") and writes
    every message, stamped with its receive time, into a new bag until ``close``. One thread
    owns the bag (SQLite objects must stay in the thread that made them); callbacks only queue."""

    def __init__(self, node: Node, out: str | Path, topics: dict[str, str],
                 storage: str = "sqlite3") -> None:
        check_new_bag(out)
        for msgtype in topics.values():
            message_class(msgtype)  # fail early for a type rclpy does not have
        self.counts = dict.fromkeys(topics, 0)
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, args=(out, topics, storage),
                                        name="vsseg-recorder", daemon=True)
        self._thread.start()
        self._node = node
        self._subscriptions = [
            node.create_subscription(message_class(msgtype), topic,
                                     lambda raw, topic=topic: self._queue.put((topic, time.time_ns(), raw)),
                                     RELIABLE, raw=True)
            for topic, msgtype in topics.items()]

    def _write(self, out, topics: dict[str, str], storage: str) -> None:
        try:
            with open_writer(out, storage) as writer:
                connections = {topic: writer.add_connection(topic, msgtype, typestore=typestore())
                               for topic, msgtype in topics.items()}
                while (item := self._queue.get()) is not None:
                    topic, stamp, raw = item
                    writer.write(connections[topic], stamp, raw)
                    self.counts[topic] += 1
        except BaseException as exc:  # reported by close()
            self._error = exc

    def close(self) -> None:
        """Stop recording, write what is queued, close the bag (index and metadata)."""
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions = []
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise BagError(f"recording failed: {self._error}") from self._error
