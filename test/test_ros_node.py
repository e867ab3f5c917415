"""vsseg_node on a real rclpy graph: the node runs in its own process (`python -m
vsseg_ros.node`), this test drives it through its lifecycle services and topics. DDS traffic is
isolated (private ROS_DOMAIN_ID, localhost discovery) and every wait has a deadline.

Every test gets a fresh ROS context and a node process of its own, brought by a fixture to the
state it needs (``unconfigured_node``, ``active_node``), and subscribes to what it reads itself:
each test passes alone and in any order."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

os.environ["ROS_DOMAIN_ID"] = str(10 + os.getpid() % 90)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
rclpy = pytest.importorskip("rclpy", reason="ROS 2 wheels not installed: run `make setup`")
pytest.importorskip("vsseg.msg", reason="vsseg interfaces not built: run `make setup`")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from vsseg.msg import ClassMap, SegmentationInfo  # noqa: E402
from vsseg_core.labels import colorize  # noqa: E402
from vsseg_core.runtime.factory import tensorrt_unavailable  # noqa: E402
from vsseg_core.synth.config import SynthConfig  # noqa: E402
from vsseg_core.synth.generator import iter_sequence  # noqa: E402
from vsseg_ros import probe  # noqa: E402
from vsseg_ros.image_conversion import array_to_image, image_to_array  # noqa: E402
from vsseg_ros.probe import stop_node  # noqa: E402

NODE = "vsseg_node"
DEADLINE_S = 60.0
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def start_node(*params: str) -> subprocess.Popen:
    """The node in its own process, input remapped to /test/image, reliable input, on the CPU
    (ONNX Runtime everywhere, also where auto would pick TensorRT)."""
    return probe.start_node("input_reliability:=reliable", "input_depth:=50", "output_depth:=100",
                            "device:=cpu", *params, image_topic="/test/image")


def _no_such_transition() -> ChangeState.Request:
    """Answered success=false in every state, changing nothing."""
    return ChangeState.Request(transition=Transition(label="vsseg_test_no_such_transition"))


HARMLESS = {GetState: GetState.Request, ChangeState: _no_such_transition,
            SetParameters: SetParameters.Request}  # no parameters: nothing set
"""A request of each service the tests call that has no effect (to confirm its reply path)."""


class Graph:
    """The test's side of the graph: a node, an executor, bounded waits."""

    def __init__(self) -> None:
        self.node = rclpy.create_node("vsseg_test")
        self.executor = rclpy.executors.SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.image_pub = self.node.create_publisher(Image, "/test/image", RELIABLE)
        self.received: dict[str, list] = {}
        self.clients: dict[str, object] = {}

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
        probe.spin_until(self.executor, condition, timeout, what)

    def spin_for(self, seconds: float) -> None:
        probe.spin_for(self.executor, seconds)

    def subscribe(self, topic: str, kind, qos=RELIABLE, *, matched: bool = True) -> list:
        """Collect ``topic`` into the returned list. ``matched``: return only once the running
        node has seen the subscription: this side sees its publisher, and the node answered a
        get_state call made after subscribing (a participant's endpoints are announced in
        order, and the node sends a reply only to a client reader it has discovered)."""
        messages = self.received.setdefault(topic, [])
        subscription = self.node.create_subscription(kind, topic, messages.append, qos)
        if matched:
            self.state()
            self.wait_for(lambda: subscription.get_publisher_count() > 0, f"a publisher of {topic}")
        return messages

    def call(self, kind, name: str, request):
        """One request, on a client whose reply path is confirmed (``probe.ready_client``: a
        harmless request answered first; kept for the test's later calls)."""
        client = self.clients.get(name)
        if client is None:
            client = self.clients[name] = probe.ready_client(self.node, self.executor, kind, name,
                                                             HARMLESS[kind]())
        future = client.call_async(request)
        self.wait_for(future.done, f"reply from {name}")
        return future.result()

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self.call(ChangeState, f"/{NODE}/change_state", request).success

    def state(self) -> int:
        return self.call(GetState, f"/{NODE}/get_state", GetState.Request()).current_state.id

    def set_parameter(self, name: str, value) -> tuple[bool, str]:
        kinds = {bool: ("bool_value", ParameterType.PARAMETER_BOOL),
                 int: ("integer_value", ParameterType.PARAMETER_INTEGER),
                 float: ("double_value", ParameterType.PARAMETER_DOUBLE),
                 str: ("string_value", ParameterType.PARAMETER_STRING)}
        field, kind = kinds[type(value)]
        parameter_value = ParameterValue(type=kind, **{field: value})
        request = SetParameters.Request(parameters=[Parameter(name=name, value=parameter_value)])
        result = self.call(SetParameters, f"/{NODE}/set_parameters", request).results[0]
        return result.successful, result.reason

    def publish(self, rgb: np.ndarray, stamp_s: float, frame_id: str = "cam") -> Header:
        header = Header(frame_id=frame_id)
        header.stamp.sec, header.stamp.nanosec = int(stamp_s), int(round(stamp_s % 1 * 1e9))
        self.image_pub.publish(array_to_image(rgb, header))
        return header

    def diagnostics(self, until: Callable[[dict[str, str]], bool] = lambda values: True,
                    what: str = "/diagnostics") -> dict[str, str]:
        """Key/values (and "level", "message") of the first /diagnostics status of the node
        published after this call for which ``until(values)`` holds."""
        messages = self.received.setdefault("/diagnostics", [])
        seen, found = len(messages), []

        def fresh() -> bool:
            nonlocal seen
            while not found and seen < len(messages):
                values = _segmentation_status(messages[seen])
                seen += 1
                if until(values):
                    found.append(values)
            return bool(found)

        self.wait_for(fresh, what)
        return found[0]


def _segmentation_status(array: DiagnosticArray) -> dict[str, str]:
    status = [s for s in array.status if s.name == f"{NODE}: segmentation"]
    assert status, [s.name for s in array.status]
    return {kv.key: kv.value for kv in status[0].values} | {"level": str(status[0].level[0]),
                                                            "message": status[0].message}


def _count(values: dict[str, str], before: dict[str, str], key: str) -> int:
    """How much the diagnostic counter ``key`` grew from ``before`` to ``values``."""
    return int(values[key]) - int(before[key])


@pytest.fixture
def graph():
    """A fresh ROS context and test node for each test: no subscription, discovery state or
    message of one test reaches another."""
    rclpy.init()
    graph = Graph()
    graph.subscribe("/diagnostics", DiagnosticArray, matched=False)
    yield graph
    graph.node.destroy_node()
    rclpy.shutdown()


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [f.rgb for f in iter_sequence(SynthConfig(sequences=1, frames=40, height=128,
                                                     width=256, seed=515151), 0)]


@pytest.fixture
def unconfigured_node(graph: Graph):
    """A vsseg_node process of its own for the test, unconfigured; stopped afterwards (a node
    that did not exit cleanly fails the test with its log)."""
    process = start_node("budget_ms:=40")  # an integer for a double parameter is accepted
    yield process
    if process.poll() is None or not process.stdout.closed:  # not already stopped by the test
        stop_node(process)


@pytest.fixture
def active_node(graph: Graph, unconfigured_node: subprocess.Popen) -> subprocess.Popen:
    """The test's node configured and active, subscribed to this test's /test/image."""
    assert graph.transition(Transition.TRANSITION_CONFIGURE)
    assert graph.transition(Transition.TRANSITION_ACTIVATE)
    assert graph.state() == State.PRIMARY_STATE_ACTIVE
    graph.wait_for(lambda: graph.image_pub.get_subscription_count() > 0,
                   "vsseg_node to subscribe to /test/image")
    return unconfigured_node


def _stamp(header: Header) -> tuple[int, int]:
    return header.stamp.sec, header.stamp.nanosec


def _configure_fails(graph: Graph, *params: str) -> str:
    """Start the node with ``params``, check configure returns FAILURE and the node stays up
    and unconfigured; return its log."""
    process = start_node(*params)
    try:
        assert graph.transition(Transition.TRANSITION_CONFIGURE) is False
        assert graph.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert process.poll() is None
    finally:
        log = stop_node(process)
    assert "configure failed" in log and "Traceback" not in log
    return log


def _run_node(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m vsseg_ros.node ARGS`` run to its end (it must exit by itself)."""
    return subprocess.run([sys.executable, "-m", "vsseg_ros.node", *args], capture_output=True,
                          text=True, timeout=DEADLINE_S, check=False)


def test_help_prints_usage_without_starting_a_node() -> None:
    result = _run_node("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: vsseg_node [--autostart] [--ros-args")
    assert "config/vsseg.yaml" in result.stdout


def test_an_out_of_range_parameter_at_start_up_is_one_line() -> None:
    result = _run_node("--ros-args", "-p", "interval:=0")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("vsseg_node: error:")]
    assert "Traceback" not in result.stderr and len(errors) == 1, result.stderr
    assert "interval" in errors[0] and "out of range" in errors[0]


def test_failing_configure_returns_failure_and_the_node_survives(graph: Graph, tmp_path: Path) -> None:
    assert "missing_bundle" in _configure_fails(graph, f"model:={tmp_path / 'missing_bundle'}")


@pytest.mark.skipif(tensorrt_unavailable() is None,
                    reason="TensorRT and a GPU are present: the path without them cannot be shown")
def test_backend_tensorrt_without_tensorrt_fails_configure(graph: Graph) -> None:
    log = _configure_fails(graph, "backend:=tensorrt", "device:=auto")
    assert "backend tensorrt cannot run here" in log and "docs/tensorrt.md" in log


def test_configure_activate_and_segment(graph: Graph, unconfigured_node, frames) -> None:
    assert graph.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert graph.transition(Transition.TRANSITION_CONFIGURE)
    assert graph.state() == State.PRIMARY_STATE_INACTIVE
    labels = graph.subscribe(f"/{NODE}/labels", ClassMap, LATCHED)
    graph.wait_for(lambda: labels, "the latched class map")
    assert [c.name for c in labels[0].classes][:3] == ["road", "sidewalk", "building"]
    assert len(labels[0].classes) == 19 and labels[0].ignore_id == 255
    assert list(labels[0].classes[0].color) == [128, 64, 128]
    masks = graph.subscribe("/semantic_mask", Image)
    confidences = graph.subscribe("/semantic_confidence", Image)
    infos = graph.subscribe(f"/{NODE}/info", SegmentationInfo)
    assert graph.transition(Transition.TRANSITION_ACTIVATE)
    assert graph.state() == State.PRIMARY_STATE_ACTIVE
    graph.wait_for(lambda: graph.image_pub.get_subscription_count() > 0,
                   "vsseg_node to subscribe to /test/image")
    sent = []
    for index in range(4):
        sent.append(graph.publish(frames[index], 100.0 + index / 17, frame_id="front_camera"))
        graph.wait_for(lambda: len(masks) > index, f"mask {index}")
    graph.wait_for(lambda: len(infos) >= 4 and len(confidences) >= 4, "info and confidence")
    assert len(masks) == len(infos) == len(confidences) == 4
    for header, mask, info in zip(sent, masks, infos):
        assert _stamp(mask.header) == _stamp(info.header) == _stamp(header)
        assert mask.header.frame_id == "front_camera"
        assert (mask.encoding, mask.height, mask.width) == ("mono8", 128, 256)
        values = np.unique(image_to_array(mask))
        assert set(values.tolist()) <= set(range(19)) | {255}
        assert info.segmentation_ms > 0 and info.end_to_end_ms >= info.segmentation_ms
    assert infos[0].keyframe and infos[0].keyframe_reason == "first_frame"
    assert np.isnan(infos[0].deviation) and infos[1].deviation >= 0
    assert infos[0].backend == "onnxruntime" and infos[0].policy.startswith("adaptive:")
    assert confidences[0].encoding == "mono8" and image_to_array(confidences[0]).max() > 0


def test_color_and_overlay_only_when_subscribed(graph: Graph, active_node, frames) -> None:
    masks = graph.subscribe("/semantic_mask", Image)
    graph.publish(frames[3], 100.0 + 3 / 17)
    graph.wait_for(lambda: masks, "the mask of a frame nobody wants in colour")
    before = graph.diagnostics(lambda v: v["frames processed"] == "1", "1 frame processed")
    assert before["color images published"] == before["overlay images published"] == "0"
    colors = graph.subscribe("/semantic_color", Image)
    overlays = graph.subscribe("/semantic_overlay", Image)
    start = len(masks)
    header = graph.publish(frames[4], 100.0 + 4 / 17)
    graph.wait_for(lambda: colors and overlays and len(masks) > start, "color and overlay")
    assert _stamp(colors[0].header) == _stamp(header) and colors[0].encoding == "rgb8"
    assert np.array_equal(image_to_array(colors[0]), colorize(image_to_array(masks[start])))
    assert overlays[0].encoding == "rgb8" and (overlays[0].height, overlays[0].width) == (128, 256)
    after = graph.diagnostics(lambda v: v["frames processed"] == "2", "2 frames processed")
    assert after["color images published"] == after["overlay images published"] == "1"


def test_burst_latest_frame_wins(graph: Graph, active_node, frames) -> None:
    masks = graph.subscribe("/semantic_mask", Image)
    before = graph.diagnostics()
    for index in range(5, 35):  # back to back, far faster than the node segments
        last = graph.publish(frames[index], 100.0 + index / 17)

    def settled(values: dict[str, str]) -> bool:  # all 30 in, none waiting or in progress
        handled = _count(values, before, "frames processed") + _count(values, before, "frames dropped")
        return _count(values, before, "frames received") == 30 == handled

    after = graph.diagnostics(settled, "the node to take in and settle all 30 frames")

    def delta(key: str) -> int:
        return _count(after, before, key)

    graph.wait_for(lambda: len(masks) >= delta("frames processed"), "every processed mask")
    assert delta("frames received") == delta("frames processed") + delta("frames dropped") == 30
    assert delta("frames dropped") > 0
    assert len(masks) == delta("frames processed")
    assert _stamp(masks[-1].header) == _stamp(last)  # the newest frame is never the one dropped


def test_live_parameters(graph: Graph, active_node, frames) -> None:
    infos = graph.subscribe(f"/{NODE}/info", SegmentationInfo)
    graph.publish(frames[34], 100.0 + 34 / 17)  # mid-stream: the switch meets a running stream
    graph.wait_for(lambda: infos, "info")
    assert infos[0].policy.startswith("adaptive:")
    assert graph.set_parameter("policy", "fixed") == (True, "")
    assert graph.set_parameter("interval", 2) == (True, "")
    ok, reason = graph.set_parameter("model", "/elsewhere")
    assert not ok and "deactivate" in reason
    ok, reason = graph.set_parameter("policy", "sometimes")
    assert not ok and "per_frame" in reason
    ok, reason = graph.set_parameter("threshold", -1.0)
    assert not ok
    start = len(infos)
    for index in range(35, 39):
        graph.publish(frames[index], 100.0 + index / 17)
        graph.wait_for(lambda: len(infos) > start + index - 35, "info")
    assert {i.policy for i in infos[start:]} == {"fixed:2"}
    assert [i.keyframe for i in infos[start:]].count(True) == 2


def test_an_unreachable_budget_is_a_diagnostics_warning(graph: Graph, active_node, frames) -> None:
    infos = graph.subscribe(f"/{NODE}/info", SegmentationInfo)
    assert graph.set_parameter("policy", "budget") == (True, "")
    assert graph.set_parameter("budget_ms", 1.0) == (True, "")  # below any frame's cost here
    for index in range(16):
        graph.publish(frames[index], 300.0 + index / 17)
        graph.wait_for(lambda: len(infos) > index, "info")
    assert [i.keyframe for i in infos].count(False) >= 10
    values = graph.diagnostics()
    assert values["level"] == "1", values["message"]
    assert "budget 1 ms is below the cost of a propagated frame" in values["message"]
    assert graph.set_parameter("policy", "adaptive") == (True, "")  # applies from the next frame
    graph.publish(frames[16], 300.0 + 16 / 17)
    graph.wait_for(lambda: len(infos) > 16, "info")
    assert "budget" not in graph.diagnostics()["message"]


def test_malformed_images_are_rejected_and_valid_ones_continue(graph: Graph, active_node,
                                                               frames) -> None:
    masks = graph.subscribe("/semantic_mask", Image)
    before = graph.diagnostics()

    def handled(count: int) -> Callable[[dict[str, str]], bool]:
        """The node is done with ``count`` frames since ``before`` (in any way)."""
        return lambda values: sum(_count(values, before, f"frames {outcome}") for outcome in
                                  ("processed", "dropped", "rejected", "failed")) == count

    bad = array_to_image(frames[0], Header(frame_id="cam"))
    bad.data = bad.data[:-7]
    graph.image_pub.publish(bad)
    graph.diagnostics(handled(1), "the node to handle a truncated image")
    wrong = array_to_image(frames[0], Header(frame_id="cam"))
    wrong.encoding = "16UC1"
    graph.image_pub.publish(wrong)
    graph.diagnostics(handled(2), "the node to handle an image of the wrong encoding")
    header = graph.publish(frames[39], 200.0)
    graph.wait_for(lambda: masks, "a mask after the malformed frames")
    assert len(masks) == 1 and _stamp(masks[0].header) == _stamp(header)
    after = graph.diagnostics(handled(3), "the node to handle the valid image")
    assert _count(after, before, "frames rejected") == 2
    assert after["level"] == "1" and "rejected" in after["message"]


def test_diagnostics_keys(graph: Graph, active_node, frames) -> None:
    infos = graph.subscribe(f"/{NODE}/info", SegmentationInfo)
    for index in range(6):  # one at a time: none dropped
        graph.publish(frames[index], 100.0 + index / 17)
        graph.wait_for(lambda: len(infos) > index, f"info {index}")
    values = graph.diagnostics(lambda v: v["frames processed"] == "6", "6 frames processed")
    assert len(infos) == 6
    for stage in ("conversion", "low", "segmentation", "publish", "end_to_end"):
        # the node's percentiles are those of the per-frame latencies it published on ~/info
        # (float32 there, 3 decimals here)
        samples = np.array([getattr(info, f"{stage}_ms") for info in infos], dtype=np.float64)
        expected = np.percentile(samples[samples > 0], (50, 95, 99))
        for q, value in zip(("p50", "p95", "p99"), expected):
            assert float(values[f"{stage} {q} (ms)"]) == pytest.approx(value, abs=1e-3), (stage, q)
    for key in ("input rate (Hz)", "output rate (Hz)", "frames dropped", "frames rejected",
                "keyframe ratio", "backend", "precision", "model", "policy"):
        assert key in values, key
    keyframes = sum(info.keyframe for info in infos)
    assert float(values["keyframe ratio"]) == pytest.approx(keyframes / 6, abs=1e-3)
    assert values["backend"] == "onnxruntime" and values["precision"] == "fp32"
    assert values["backend choice"] == "auto on the CPU"  # why auto picked it


def test_deactivate_cleanup_and_shutdown(graph: Graph, active_node, frames) -> None:
    masks = graph.subscribe("/semantic_mask", Image)
    graph.publish(frames[1], 299.0)
    graph.wait_for(lambda: masks, "a mask while active")
    assert graph.transition(Transition.TRANSITION_DEACTIVATE)
    assert graph.state() == State.PRIMARY_STATE_INACTIVE
    ok, _ = graph.set_parameter("backend", "torch")  # allowed again while inactive
    assert ok
    start = len(masks)
    graph.publish(frames[0], 300.0)
    graph.spin_for(1.5)  # a window for a mask that must not come
    assert len(masks) == start  # inactive: nothing segmented
    assert graph.transition(Transition.TRANSITION_CLEANUP)
    assert graph.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert graph.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    log, _ = active_node.communicate(timeout=DEADLINE_S)  # finalized: the process ends by itself
    assert active_node.returncode == 0 and "Traceback" not in log, log
