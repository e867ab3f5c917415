"""The node's worker thread and the executor thread, on a real in-process node with the shipped
model: a worker still segmenting when the node is deactivated keeps the model (the backend is
never closed under a running frame), and a policy set while a frame is in flight reaches the
next frame. The slow frame is a real frame held at the segmenter's entry by an event."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from vsseg_ros.image_conversion import array_to_image
from vsseg_ros.node import SegmentationNode
from vsseg_ros.probe import isolate_dds

DEADLINE_S = 60.0


@pytest.fixture
def node():
    isolate_dds()
    rclpy.init()
    node = SegmentationNode(parameter_overrides=[Parameter("device", value="cpu"),
                                                 Parameter("policy", value="per_frame")])
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    yield node
    node.destroy_node()
    rclpy.try_shutdown()


class HeldSegmenter:
    """Wraps the node's segmenter: each step waits for ``release`` after signalling
    ``entered``, and records the policy it ran with."""

    def __init__(self, node: SegmentationNode) -> None:
        self.inner, self.entered, self.release = node.segmenter, threading.Event(), threading.Event()
        self.policies: list[str] = []
        original = self.inner.step

        def step(image, stamp):
            self.policies.append(self.inner.policy.spec)
            self.entered.set()
            assert self.release.wait(DEADLINE_S), "the test never released the frame"
            return original(image, stamp)

        self.inner.step = step


def _frame(stamp_s: float):
    header = Header(frame_id="camera")
    header.stamp.sec, header.stamp.nanosec = int(stamp_s), int(stamp_s % 1 * 1e9)
    return array_to_image(np.full((256, 512, 3), 90, np.uint8), header)


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_deactivate_never_releases_the_model_under_a_running_frame(node) -> None:
    held = HeldSegmenter(node)
    backend = node.backend
    node._on_image(_frame(1.0))
    assert held.entered.wait(DEADLINE_S)
    node.stop_timeout_s = 0.2
    assert node.trigger_deactivate() == TransitionCallbackReturn.ERROR
    assert node._state_machine.current_state[1] == "finalized"  # on_error could not release
    assert node.backend is backend and not backend.closed
    held.release.set()
    worker = node._worker
    worker.join(DEADLINE_S)
    assert not worker.is_alive()
    assert node.stats.processed == 1 and node.stats.failed == 0  # the frame ran on an open backend


def test_a_policy_set_during_a_frame_reaches_the_next_frame(node) -> None:
    held = HeldSegmenter(node)
    node._on_image(_frame(1.0))
    assert held.entered.wait(DEADLINE_S)
    result = node.set_parameters([Parameter("policy", value="fixed"),
                                  Parameter("interval", value=4)])
    assert all(r.successful for r in result)
    held.entered.clear()
    node._on_image(_frame(1.1))  # waits for the worker
    held.release.set()
    _wait(lambda: node.stats.processed == 2, "two frames processed")
    assert held.policies == ["per_frame", "fixed:4"]
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
