"""The node's parameters: names, types, descriptions, ranges, which apply live, and the
defaults read from config/vsseg.yaml (the one place defaults live). No rclpy here, so the
rules are testable on their own; ``vsseg_ros.node`` turns them into declarations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from vsseg_core.errors import ConfigError
from vsseg_core.package_files import package_file
from vsseg_core.runtime.base import DEVICE_HELP, device_problem
from vsseg_core.runtime.engine_cache import CACHE_HELP, PRECISIONS, EngineOptions
from vsseg_core.runtime.factory import BACKENDS

CONFIG_FILE = "vsseg.yaml"
POLICIES = ("per_frame", "fixed", "adaptive", "budget")
RELIABILITY = ("best_effort", "reliable")


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: ``kind`` is "string", "integer", "double" or "bool"; ``live`` ones apply
    on the next frame while active, the others only at the next configure."""

    name: str
    kind: str
    description: str
    live: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    validate: Callable[[object], str | None] | None = None
    """Extra check of a value of the right type: the reason it is not acceptable, or None."""

    def check(self, value: object) -> str | None:
        """The reason ``value`` is not acceptable, or None."""
        expected = {"string": str, "integer": int, "double": (int, float), "bool": bool}[self.kind]
        # doubles accept integers (`-p budget_ms:=40`); the node declares them dynamically typed
        if not isinstance(value, expected) or (self.kind != "bool" and isinstance(value, bool)):
            return f"{self.name} must be a {self.kind}, got {value!r}"
        if self.validate is not None and (problem := self.validate(value)) is not None:
            return f"{self.name}: {problem}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
        if self.low is not None and not self.low <= float(value) <= float(self.high):  # type: ignore[arg-type]
            return f"{self.name} must be in [{self.low:g}, {self.high:g}], got {value!r}"
        return None


SPECS: tuple[ParameterSpec, ...] = (
    ParameterSpec("model", "string", "model bundle directory (from `vsseg export`); empty = the "
                  "shipped model"),
    ParameterSpec("backend", "string", "inference backend", choices=BACKENDS),
    ParameterSpec("device", "string", f"device: {DEVICE_HELP}", validate=device_problem),
    ParameterSpec("precision", "string", "numeric precision (int8: tensorrt engines built by "
                  "`vsseg build-engine`)", choices=("auto", *PRECISIONS)),
    ParameterSpec("engine_cache_dir", "string", f"TensorRT engine cache; empty = {CACHE_HELP}"),
    ParameterSpec("workspace_mb", "integer", "TensorRT builder memory-pool limit (MiB)",
                  low=1, high=1 << 20),
    ParameterSpec("dla_core", "integer", "TensorRT: DLA core to run on (Jetson); -1 = the GPU",
                  low=-1, high=15),
    ParameterSpec("policy", "string", "keyframe policy", live=True, choices=POLICIES),
    ParameterSpec("interval", "integer", "frames between keyframes for policy fixed", live=True,
                  low=1, high=1000),
    ParameterSpec("threshold", "double", "adaptive deviation threshold; 0 = the bundle's "
                  "calibrated one", live=True, low=0.0, high=100.0),
    ParameterSpec("max_interval", "integer", "adaptive/budget: keyframe after this many frames",
                  live=True, low=1, high=1000),
    ParameterSpec("budget_ms", "double", "policy budget: mean latency per frame to hold (ms)",
                  live=True, low=1.0, high=10000.0),
    ParameterSpec("max_gap_s", "double", "a stamp gap above this (or a stamp going back) is a "
                  "time jump and forces a keyframe (s)", low=0.01, high=3600.0),
    ParameterSpec("low_latency", "bool", "answer keyframes by propagation while a worker "
                  "thread computes their deep features"),
    ParameterSpec("publish_confidence", "bool", "publish semantic_confidence (computed only "
                  "when subscribed)", live=True),
    ParameterSpec("publish_color", "bool", "publish semantic_color (computed only when "
                  "subscribed)", live=True),
    ParameterSpec("publish_overlay", "bool", "publish semantic_overlay (computed only when "
                  "subscribed)", live=True),
    ParameterSpec("compressed_input", "bool", "subscribe image/compressed instead of image"),
    ParameterSpec("max_input_pixels", "integer", "frames with more pixels (width x height, raw or "
                  "by a compressed image's header) are rejected before decoding", low=1,
                  high=(1 << 31) - 1),
    ParameterSpec("input_reliability", "string", "input QoS reliability (raw frames over 512 KiB "
                  "need config/fastdds_large_frames.xml, above all with best_effort)",
                  choices=RELIABILITY),
    ParameterSpec("input_depth", "integer", "input QoS depth (frames)", low=1, high=100),
    ParameterSpec("output_reliability", "string", "output QoS reliability", choices=RELIABILITY),
    ParameterSpec("output_depth", "integer", "output QoS depth (messages)", low=1, high=100),
    ParameterSpec("diagnostics_period_s", "double", "/diagnostics period (s)", low=0.1, high=60.0),
)
BY_NAME = {spec.name: spec for spec in SPECS}


def config_path() -> Path:
    """config/vsseg.yaml beside the sources (pip editable install), else in the installed share
    directory (colcon)."""
    found = package_file(f"config/{CONFIG_FILE}")
    if found is None:
        raise ConfigError(f"{CONFIG_FILE} not found beside the sources nor in the vsseg share "
                          "directory; reinstall vsseg")
    return found


def load_defaults(path: Path | None = None) -> dict[str, object]:
    """{name: default} for every spec, from the first ``ros__parameters`` block of the file;
    ConfigError when a parameter is missing, unknown or invalid there."""
    path = path or config_path()
    document = yaml.safe_load(path.read_text()) or {}
    blocks = [v["ros__parameters"] for v in document.values()
              if isinstance(v, dict) and "ros__parameters" in v]
    if not blocks:
        raise ConfigError(f"{path}: no `ros__parameters` block")
    values = blocks[0]
    missing = [s.name for s in SPECS if s.name not in values]
    unknown = sorted(set(values) - set(BY_NAME))
    if missing or unknown:
        raise ConfigError(f"{path}: missing {missing or 'nothing'}, unknown {unknown or 'nothing'}")
    for spec in SPECS:
        reason = spec.check(values[spec.name])
        if reason:
            raise ConfigError(f"{path}: {reason}")
    return {spec.name: values[spec.name] for spec in SPECS}


def engine_options(values: dict) -> EngineOptions:
    """The TensorRT engine options for the parameters (engine_cache_dir, workspace_mb,
    dla_core; -1 = no DLA)."""
    cache, dla_core = values["engine_cache_dir"], values["dla_core"]
    return EngineOptions(cache_dir=Path(cache) if cache else None,
                         workspace_mb=values["workspace_mb"],
                         dla_core=None if dla_core == -1 else dla_core)


def policy_string(values: dict[str, object]) -> str:
    """The vsseg_core policy string for the parameters (policy, interval, threshold, budget_ms)."""
    policy = values["policy"]
    if policy == "fixed":
        return f"fixed:{values['interval']}"
    if policy == "adaptive":
        return "adaptive" if not values["threshold"] else f"adaptive:{values['threshold']}"
    if policy == "budget":
        return f"budget:{values['budget_ms']}"
    return "per_frame"
