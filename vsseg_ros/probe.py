"""Drive a running vsseg_node from another process: start it, publish frames, collect what it
publishes. Used by `vsseg node-demo`, `vsseg bench-node` and the tests.

Latency bookkeeping per frame (ms): ``end_to_end`` = publish of the image -> mask received here
(this process's clock); the node's SegmentationInfo splits its part into conversion,
segmentation (vsseg_core: preprocess, network graphs, postprocess) and publish; ``transport`` =
end_to_end - the node's own receive->publish time (DDS both ways, serialisation, executor).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import rclpy
import rclpy.executors
import rclpy.node
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from vsseg.msg import ClassMap, SegmentationInfo
from vsseg_core.errors import VssegError
from vsseg_ros.image_conversion import array_to_image

NODE = "vsseg_node"
IMAGE_TOPIC = "/vsseg_probe/image"
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
OUTPUT_TOPICS = {"/semantic_mask": "sensor_msgs/msg/Image",
                 f"/{NODE}/info": "vsseg/msg/SegmentationInfo",
                 "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray"}
"""The node outputs a recording needs for `vsseg bag eval` (topic -> message type)."""


@contextmanager
def spinning(name: str) -> Iterator[rclpy.node.Node]:
    """A node whose executor spins in a background thread for the duration of the block."""
    node = rclpy.create_node(name)
    executor = rclpy.executors.SingleThreadedExecutor()
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, name=f"{name}-spin", daemon=True)
    thread.start()
    try:
        yield node
    finally:
        executor.shutdown(timeout_sec=2.0)
        thread.join(timeout=5.0)
        node.destroy_node()


def describe_diagnostics(values: dict[str, str]) -> str:
    """One line from the node's diagnostic key/values: output rate, end-to-end latency, ..."""
    return (f"from /diagnostics: output rate {float(values['output rate (Hz)']):.1f} Hz, "
            f"end-to-end latency p50 {float(values['end_to_end p50 (ms)']):.1f} ms, "
            f"p95 {float(values['end_to_end p95 (ms)']):.1f} ms, keyframe ratio "
            f"{100 * float(values['keyframe ratio']):.0f}%, {values['frames dropped']} dropped, "
            f"{values['policy']}, {values['backend']} {values['precision']}")


def isolate_dds() -> None:
    """Keep this process's (and its children's) DDS traffic on this machine, on a private domain
    unless ROS_DOMAIN_ID is already set."""
    os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 90))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def start_node(*params: str, autostart: bool = False, image_topic: str = IMAGE_TOPIC
               ) -> subprocess.Popen:
    """``python -m vsseg_ros.node`` (this interpreter) with ``image`` remapped to
    ``image_topic`` and ``-p name:=value`` for each of ``params``; output captured."""
    args = [sys.executable, "-m", "vsseg_ros.node", *(["--autostart"] if autostart else []),
            "--ros-args", "-r", f"image:={image_topic}"]
    for param in params:
        args += ["-p", param]
    return DrainedProcess(args)


class DrainedProcess(subprocess.Popen):
    """A child whose combined stdout and stderr is read as it comes and handed back whole by
    ``communicate()``: a node that logs more than a pipe holds (64 KiB) would otherwise block
    in the middle of a frame."""

    def __init__(self, args: list[str]) -> None:
        super().__init__(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, name="node-log", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.stdout is not None
        for line in self.stdout:
            self._lines.append(line)

    def communicate(self, input=None, timeout=None):  # type: ignore[override]
        """Wait for the exit (TimeoutExpired after ``timeout`` s); (the whole output, None)."""
        self.wait(timeout=timeout)
        self._reader.join(timeout=5.0)
        if self.stdout is not None:
            self.stdout.close()
        return "".join(self._lines), None


def node_alive(process: subprocess.Popen) -> bool:
    """True while the node process runs; VssegError with its log once it has exited."""
    if process.poll() is None:
        return True
    out, _ = process.communicate()
    raise VssegError(f"vsseg_node exited with {process.returncode} during start-up:\n{out}")


def stop_node(process: subprocess.Popen, timeout: float = 10.0) -> str:
    """SIGTERM and wait; returns the node's log. VssegError if it does not exit cleanly."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise VssegError(f"vsseg_node did not stop within {timeout:.0f} s of SIGTERM:\n{out}")
    if process.returncode != 0:
        raise VssegError(f"vsseg_node exited with {process.returncode}:\n{out}")
    return out


def spin_until(executor, condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Spin ``executor`` until ``condition()``; VssegError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise VssegError(f"timed out after {timeout:.0f} s waiting for {what}")
        executor.spin_once(timeout_sec=0.02)


def ready_client(node: rclpy.node.Node, executor, kind, name: str, harmless,
                 timeout: float = 60.0, attempt_s: float = 2.0):
    """A client of service ``name`` whose replies are known to arrive. ``service_is_ready()``
    says only that the server reads our requests; until it has also discovered this client's
    reply reader, a reply it sends is lost. So ``harmless`` (a request with no effect) is sent,
    again every ``attempt_s``, until one is answered; VssegError after ``timeout`` s."""
    client = node.create_client(kind, name)
    spin_until(executor, client.service_is_ready, timeout, f"service {name}")
    deadline = time.monotonic() + timeout
    while True:
        future = client.call_async(harmless)
        try:
            spin_until(executor, future.done, min(attempt_s, max(0.1, deadline - time.monotonic())),
                       f"a reply from {name}")
            return client
        except VssegError:
            if time.monotonic() > deadline:
                raise VssegError(f"timed out after {timeout:.0f} s waiting for a reply from {name}")


def spin_for(executor, seconds: float) -> None:
    """Spin ``executor`` for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=max(0.0, min(0.02, deadline - time.monotonic())))


@dataclass
class FrameRecord:
    """What is known of one published frame (times in ms, NaN until known)."""

    sent: float
    end_to_end: float = float("nan")
    info: SegmentationInfo | None = None


@dataclass
class NodeProbe:
    """A node that feeds ``image_topic`` and listens to the segmentation node's outputs."""

    image_topic: str = IMAGE_TOPIC
    sensor_qos: bool = True
    overlay: bool = False
    frames: dict[tuple[int, int], FrameRecord] = field(default_factory=dict)
    diagnostics: list = field(default_factory=list)
    overlays: list = field(default_factory=list)
    class_maps: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.node = rclpy.create_node("vsseg_probe")
        self.executor = rclpy.executors.SingleThreadedExecutor()
        self.executor.add_node(self.node)
        qos = qos_profile_sensor_data if self.sensor_qos else RELIABLE
        self.publisher = self.node.create_publisher(Image, self.image_topic, qos)
        self.node.create_subscription(Image, "/semantic_mask", self._on_mask, RELIABLE)
        self.node.create_subscription(SegmentationInfo, f"/{NODE}/info", self._on_info, RELIABLE)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append,
                                      RELIABLE)
        self.node.create_subscription(ClassMap, f"/{NODE}/labels", self.class_maps.append, LATCHED)
        if self.overlay:
            self.node.create_subscription(Image, "/semantic_overlay", self.overlays.append, RELIABLE)

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.node.destroy_node()

    def spin_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        spin_until(self.executor, condition, timeout, what)

    def spin_for(self, seconds: float) -> None:
        spin_for(self.executor, seconds)

    def wait_ready(self, process: subprocess.Popen, timeout: float = 120.0) -> None:
        """Until the node has configured (latched class map) and subscribed to our topic;
        VssegError with the node's log if its ``process`` exits first."""
        self.spin_until(lambda: node_alive(process) and self.class_maps
                        and self.publisher.get_subscription_count() > 0,
                        timeout, "vsseg_node to configure, activate and subscribe")

    def publish(self, rgb: np.ndarray, index: int, frame_id: str = "camera") -> None:
        """Publish frame ``index`` with a stamp of ``index`` ms, so replies can be matched."""
        header = Header(frame_id=frame_id)
        header.stamp.sec, header.stamp.nanosec = index // 1000, (index % 1000) * 1_000_000
        message = array_to_image(rgb, header)
        self.frames[(header.stamp.sec, header.stamp.nanosec)] = FrameRecord(time.perf_counter())
        self.publisher.publish(message)

    def _on_mask(self, mask: Image) -> None:
        record = self.frames.get((mask.header.stamp.sec, mask.header.stamp.nanosec))
        if record is not None:
            record.end_to_end = (time.perf_counter() - record.sent) * 1000.0

    def _on_info(self, info: SegmentationInfo) -> None:
        record = self.frames.get((info.header.stamp.sec, info.header.stamp.nanosec))
        if record is not None:
            record.info = info

    def answered(self) -> list[FrameRecord]:
        return [r for r in self.frames.values() if r.info is not None and np.isfinite(r.end_to_end)]

    def latest_diagnostics(self) -> dict[str, str]:
        """Key/values of the node's latest diagnostic status ({} before the first)."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name == f"{NODE}: segmentation":
                    return {kv.key: kv.value for kv in status.values}
        return {}
