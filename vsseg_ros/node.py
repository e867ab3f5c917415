"""``vsseg_node``: a lifecycle node around ``vsseg_core.temporal.VideoSegmenter``.

    subscribes  image (sensor_msgs/Image; or image/compressed with compressed_input)
    publishes   semantic_mask (mono8 trainIds, 255 = ignore) and ~/info (vsseg/SegmentationInfo)
                for every frame; only computed while someone subscribes: semantic_confidence
                (mono8), semantic_color / semantic_overlay (rgb8); ~/labels (vsseg/ClassMap,
                transient local, once at configure); /diagnostics (diagnostic_msgs/
                DiagnosticArray, every diagnostics_period_s)

Every output keeps the input header and resolution. Frames are segmented in a worker thread,
latest frame wins: a frame that arrives while another waits replaces it (counted as dropped).
configure loads the bundle and backend and warms up; activate subscribes and starts the worker;
deactivate stops both and keeps the model; cleanup releases it. Parameters: config/vsseg.yaml.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

import cv2
import numpy as np
import rclpy
import rclpy.exceptions
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image

from vsseg.msg import ClassMap, SegmentationInfo
from vsseg_core.bundle import Bundle
from vsseg_core.errors import ConfigError, VssegError
from vsseg_core.frame_info import frame_latencies, info_fields
from vsseg_core.labels import colorize
from vsseg_core.runtime.factory import choose_backend, create_backend
from vsseg_core.runtime.processing import confidence_to_uint8
from vsseg_core.temporal.policy import KeyframePolicy
from vsseg_core.temporal.video import VideoResult, VideoSegmenter
from vsseg_core.visualize import overlay
from vsseg_ros.dds import DDS_PROFILE_VARIABLE, dds_profile, use_shipped_dds_profile
from vsseg_ros.image_conversion import (
    ImageRejected,
    array_to_image,
    check_message,
    compressed_to_array,
    image_to_array,
)
from vsseg_ros.lifecycle import answer_unavailable_transitions, state_label
from vsseg_ros.messages import class_map, descriptor, diagnostic_array, qos
from vsseg_ros.parameters import BY_NAME, SPECS, engine_options, load_defaults, policy_string
from vsseg_ros.statistics import OK, WARN, NodeStatistics

NODE_NAME = "vsseg_node"
_REJECT_LOG_PERIOD_S = 5.0
STOP_TIMEOUT_S = 10.0
"""How long deactivate/shutdown wait for the worker to finish its frame."""
POLICY_PARAMETERS = ("policy", "interval", "threshold", "max_interval", "budget_ms")


class SegmentationNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for name, default in load_defaults().items():
            self.declare_parameter(name, default, descriptor(name))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        answer_unavailable_transitions(self)
        self.bundle: Bundle | None = None
        self.backend = None
        self.backend_choice: str | None = None  # why this backend (auto's reasoning)
        self.segmenter: VideoSegmenter | None = None
        self.stats = NodeStatistics()
        self._outputs: dict[str, object] = {}
        self._labels_pub = self._diagnostics_pub = self._subscription = self._timer = None
        self._worker: threading.Thread | None = None
        self._condition = threading.Condition()
        self._waiting: tuple[object, float] | None = None
        self._stopping = self._active = False
        self._next_policy: KeyframePolicy | None = None  # for the worker; under _condition
        self.stop_timeout_s = STOP_TIMEOUT_S
        self._max_pixels: int | None = None  # max_input_pixels while active

    # -- parameters -------------------------------------------------------------------------
    def _values(self) -> dict[str, object]:
        return {spec.name: self.get_parameter(spec.name).value for spec in SPECS}

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            spec = BY_NAME.get(parameter.name)
            if spec is None:
                continue
            reason = spec.check(parameter.value)
            if reason is None and not spec.live and self._active:
                reason = (f"{parameter.name} cannot change while active: deactivate and clean up "
                          "the node, set it, then configure again")
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        candidate = {**self._values(), **{p.name: p.value for p in parameters}}
        if self.segmenter is not None and any(p.name in POLICY_PARAMETERS for p in parameters):
            try:  # resolve now (with the new values), apply on the next frame
                policy = self.segmenter.resolve_policy(policy_string(candidate),
                                                       candidate["max_interval"])
            except VssegError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            with self._condition:  # the worker takes it with the next frame
                self._next_policy = policy
        return SetParametersResult(successful=True)

    # -- lifecycle --------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values = self._values()
        try:
            self._load_model(values)
        except Exception as exc:  # e.g. a backend library failing: still a clean FAILURE
            reason = str(exc) if isinstance(exc, VssegError) else (
                f"{type(exc).__name__}: {exc}; check the model, backend, device and precision "
                "parameters")
            self.get_logger().error(f"configure failed: {reason}")
            self._release_model()
            return TransitionCallbackReturn.FAILURE
        out_qos = qos(values["output_reliability"], values["output_depth"])
        for topic, kind in (("semantic_mask", Image), ("semantic_confidence", Image),
                            ("semantic_color", Image), ("semantic_overlay", Image),
                            ("~/info", SegmentationInfo)):
            self._outputs[topic] = self.create_lifecycle_publisher(kind, topic, out_qos)
        self._labels_pub = self.create_publisher(ClassMap, "~/labels", qos("reliable", 1, latched=True))
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._labels_pub.publish(class_map(self.get_clock().now().to_msg()))
        self.stats = NodeStatistics()
        self.get_logger().info(f"configured: {self.bundle.root} on {self.backend!r}, policy "
                               f"{self.segmenter.policy.spec}")
        return super().on_configure(state)

    def _load_model(self, values: dict) -> None:
        """Bundle, backend and segmenter for the parameters, warmed up; raises on any problem."""
        reason = next((r for r in (BY_NAME[k].check(v) for k, v in values.items()) if r), None)
        if reason is not None:  # overrides given at start-up bypass the set-callback
            raise ConfigError(reason)
        self.bundle = Bundle.load(values["model"] or None)
        name, self.backend_choice = choose_backend(values["backend"], values["device"])
        self.get_logger().info(f"backend {name} ({self.backend_choice})")
        self.backend = create_backend(values["backend"], self.bundle, device=values["device"],
                                      precision=values["precision"], engine=engine_options(values),
                                      log=self.get_logger().info, warn=self.get_logger().warning)
        self.segmenter = VideoSegmenter(self.bundle, self.backend, policy_string(values),
                                        max_interval=values["max_interval"],
                                        low_latency=values["low_latency"],
                                        max_gap_s=values["max_gap_s"], restart_on_resize=True)
        self.segmenter.warmup()

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        values = self._values()
        input_qos = qos(values["input_reliability"], values["input_depth"])
        self._max_pixels = values["max_input_pixels"]
        kind, topic = (CompressedImage, "image/compressed") if values["compressed_input"] else (
            Image, "image")
        events = SubscriptionEventCallbacks(
            message_lost=lambda info: self.stats.frames_lost(info.total_count_change))
        self._subscription = self.create_subscription(kind, topic, self._on_image, input_qos,
                                                      event_callbacks=events)
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="vsseg-worker", daemon=True)
        self._worker.start()
        self._timer = self.create_timer(values["diagnostics_period_s"], self._publish_diagnostics)
        self._active = True
        self.get_logger().info(f"active: segmenting {self._subscription.topic_name}")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if not self._stop_processing():
            return TransitionCallbackReturn.ERROR  # on_error decides; the model stays loaded
        self._publish_diagnostics()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_all()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if not self._stop_processing():
            return TransitionCallbackReturn.ERROR
        self._release_all()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        if not self._stop_processing():  # never close the backend under a running frame
            self.get_logger().error(f"error in state {state.label}: the worker is still running; "
                                    "finalizing without releasing the model (restart the node)")
            return TransitionCallbackReturn.FAILURE  # -> finalized
        self.get_logger().error(f"error in state {state.label}: releasing everything; configure again")
        self._release_all()
        return super().on_error(state)  # SUCCESS: back to unconfigured, ready to configure again

    def _stop_processing(self) -> bool:
        """Unsubscribe, stop the timer and the worker; False (logged) when the worker is still
        segmenting after ``stop_timeout_s``, so the caller must not release the model."""
        self._active = False
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        with self._condition:
            self._stopping, self._waiting = True, None
            self._condition.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=self.stop_timeout_s)
            if self._worker.is_alive():
                self.get_logger().error(f"the worker is still segmenting a frame after "
                                        f"{self.stop_timeout_s:g} s; the model stays loaded")
                return False
            self._worker = None
        return True

    def _release_model(self) -> None:
        with self._condition:  # a policy resolved for this model must not reach the next one
            self._next_policy = None
        if self.segmenter is not None:
            self.segmenter.close()
        if self.backend is not None:
            self.backend.close()
        self.segmenter = self.backend = self.bundle = self.backend_choice = None

    def _release_all(self) -> None:
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs.clear()
        for publisher in (self._labels_pub, self._diagnostics_pub):
            if publisher is not None:
                self.destroy_publisher(publisher)
        self._labels_pub = self._diagnostics_pub = None
        self._release_model()

    # -- frames -----------------------------------------------------------------------------
    def _on_image(self, msg: Image | CompressedImage) -> None:
        """Executor thread: check the frame's header (a malformed frame never replaces a good
        one), then hand it to the worker; replace (drop) a waiting one."""
        received = time.perf_counter()
        try:
            check_message(msg, self._max_pixels)
        except ImageRejected as exc:
            self._reject(str(exc))
            return
        self.stats.frame_received(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
        with self._condition:
            if self._waiting is not None:
                self.stats.frame_dropped()
            self._waiting = (msg, received)
            self._condition.notify()

    def _work(self) -> None:
        while True:
            with self._condition:
                while self._waiting is None and not self._stopping:
                    self._condition.wait(timeout=1.0)
                if self._stopping:
                    return
                (msg, received), self._waiting = self._waiting, None
                policy, self._next_policy = self._next_policy, None
            try:
                if policy is not None and self.segmenter is not None:
                    self.segmenter.set_policy(policy)
                self._process(msg, received)
            except Exception as exc:  # keep serving frames; report in /diagnostics
                self.stats.frame_failed(f"{type(exc).__name__}: {exc}")
                self.get_logger().error(f"frame failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=_REJECT_LOG_PERIOD_S)

    def _reject(self, reason: str) -> None:
        self.stats.frame_rejected(reason)
        self.get_logger().warning(f"image rejected: {reason}",
                                  throttle_duration_sec=_REJECT_LOG_PERIOD_S)

    def _process(self, msg: Image | CompressedImage, received: float) -> None:
        """``received``: perf_counter when the executor handed the frame over (the time it
        waited for the worker counts in end_to_end, not in conversion)."""
        segmenter = self.segmenter
        if segmenter is None:
            return
        started = time.perf_counter()
        try:
            pixels = (compressed_to_array(msg, self._max_pixels) if isinstance(msg, CompressedImage)
                      else image_to_array(msg))
        except ImageRejected as exc:
            self._reject(str(exc))
            return
        converted = time.perf_counter()
        result = segmenter.step(pixels, msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
        published = self._publish(msg, pixels, result, self._values())
        done = time.perf_counter()
        latencies = frame_latencies(
            result, conversion_ms=(converted - started) * 1000.0,
            publish_ms=(done - converted) * 1000.0 - result.timings_ms["total"],
            end_to_end_ms=(done - received) * 1000.0)
        self._outputs["~/info"].publish(SegmentationInfo(
            header=msg.header, **info_fields(result, segmenter, latencies)))
        self.stats.frame_processed(latencies, result.keyframe, published)

    def _publish(self, msg, pixels: np.ndarray, result: VideoResult, values: dict) -> tuple[str, ...]:
        """The mask, and each optional output that is switched on and has a subscriber; returns
        the names of the optional ones sent."""
        header, publishers, published = msg.header, self._outputs, []
        publishers["semantic_mask"].publish(array_to_image(result.labels, header))
        if values["publish_confidence"] and publishers["semantic_confidence"].get_subscription_count():
            confidence = confidence_to_uint8(result.confidence)
            publishers["semantic_confidence"].publish(array_to_image(confidence, header))
            published.append("confidence")
        if values["publish_color"] and publishers["semantic_color"].get_subscription_count():
            publishers["semantic_color"].publish(array_to_image(colorize(result.labels), header))
            published.append("color")
        if values["publish_overlay"] and publishers["semantic_overlay"].get_subscription_count():
            rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
            publishers["semantic_overlay"].publish(array_to_image(overlay(rgb, result.labels), header))
            published.append("overlay")
        return tuple(published)

    def _publish_diagnostics(self) -> None:
        if self._diagnostics_pub is None:
            return
        level, message = self.stats.health(self._active)
        if self._active and self.segmenter is not None:
            if shortfall := self.segmenter.policy.shortfall():
                message = shortfall if level == OK else f"{message}; {shortfall}"
                level = max(level, WARN)
        values = self.stats.snapshot()
        if self.backend is not None and self.bundle is not None and self.segmenter is not None:
            values.update({"backend": self.backend.name, "backend choice": self.backend_choice,
                           "precision": self.backend.precision,
                           "device": self.backend.device, "model": str(self.bundle.root),
                           "policy": self.segmenter.policy.spec})
        self._diagnostics_pub.publish(diagnostic_array(
            f"{self.get_name()}: segmentation", level, message,
            self.backend.device if self.backend is not None else "none", values,
            self.get_clock().now().to_msg()))


USAGE = """\
usage: vsseg_node [--autostart] [--ros-args -p name:=value ... | --params-file config/vsseg.yaml]

Lifecycle node: segments the camera images on `image` into semantic_mask, ~/info and more.
  --autostart  configure and activate at once (default: wait for lifecycle transitions);
               a failed configure then ends the process with exit code 1
Parameters, their defaults and ranges: config/vsseg.yaml."""


def main(argv: list[str] | None = None) -> int:
    """Console script: ``vsseg_node [--autostart] [--ros-args ...]``; --autostart configures
    and activates, -h/--help prints USAGE. SIGINT/SIGTERM stop the spin loop within 0.1 s; the
    node then stops its worker and releases the model before exiting with 0."""
    argv = list(sys.argv if argv is None else argv)
    if {"-h", "--help"} & set(argv[1:]):
        print(USAGE)
        return 0
    autostart = "--autostart" in argv
    argv = [a for a in argv if a != "--autostart"]
    cv2.setLogLevel(2)  # OpenCV's LOG_LEVEL_ERROR: no warning per undecodable frame (logged here)
    if use_shipped_dds_profile():
        print(f"vsseg_node: Fast DDS profile {dds_profile()} (large frames; set "
              f"{DDS_PROFILE_VARIABLE} to choose another)", file=sys.stderr)
    stop = threading.Event()
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        node = SegmentationNode()
    except (VssegError, rclpy.exceptions.InvalidParameterTypeException,
            rclpy.exceptions.InvalidParameterValueException) as exc:
        print(f"vsseg_node: error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if autostart:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                print("vsseg_node: error: configure failed (the reason is logged above); exiting "
                      "because of --autostart", file=sys.stderr)
                return 1
            node.trigger_activate()
        while not stop.is_set() and rclpy.ok() and state_label(node) != "finalized":
            executor.spin_once(timeout_sec=0.1)
    finally:
        if node._stop_processing():  # else the worker still runs: leave the model to exit
            node._release_all()
        executor.remove_node(node)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
