"""The launch file's contract, checkable without launch_ros (which is not on PyPI): the
arguments launch/vsseg.launch.py declares and how their text becomes typed node parameters.

Every node parameter (``parameters.SPECS``) is a launch argument of the same name. Its default
is empty: not passed, so the params file's value applies (config/vsseg.yaml unless
``params_file`` names another). A given value is converted to the parameter's declared type
here (``interval:=3`` is the integer 3, ``budget_ms:=40`` the double 40.0, ``model:=123`` the
string '123'), because launch_ros would pass the text of a substitution as a string. The other
arguments shape the node process: its camera topic, namespace, params file, sim time, log level,
whether it configures and activates itself, and whether it is respawned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from vsseg_core.errors import ConfigError
from vsseg_ros.parameters import BY_NAME, SPECS, ParameterSpec

BOOLEANS = {"true": True, "false": False}
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


@dataclass(frozen=True)
class LaunchArgument:
    """One ``DeclareLaunchArgument``: ``choices`` empty = any text."""

    name: str
    description: str
    default: str = ""
    choices: tuple[str, ...] = ()


def _parameter_argument(spec: ParameterSpec) -> LaunchArgument:
    choices = ("true", "false") if spec.kind == "bool" else spec.choices
    return LaunchArgument(spec.name, f"{spec.description} ({spec.kind}); empty = the params "
                          "file's value", "", ("", *choices) if choices else ())


PROCESS_ARGUMENTS = (
    LaunchArgument("camera_topic", "sensor_msgs/Image topic to segment (image/compressed: this "
                   "topic + /compressed, with compressed_input:=true)", "/camera/image_raw"),
    LaunchArgument("namespace", "namespace of the node and its topics (not /diagnostics); a "
                   "params file then needs `/**:` keys", ""),
    LaunchArgument("params_file", "node parameters (default: the installed config/vsseg.yaml, "
                   "the file the node takes its defaults from)", ""),
    LaunchArgument("use_sim_time", "use /clock (e.g. `vsseg bag play --clock`) as the node's "
                   "time", "false", ("true", "false")),
    LaunchArgument("log_level", "the node's log level", "info", LOG_LEVELS),
    LaunchArgument("autostart", "configure and activate the node at start; false leaves the "
                   "transitions to a lifecycle manager", "true", ("true", "false")),
    LaunchArgument("respawn", "restart the node process when it exits (with autostart it "
                   "configures again)", "false", ("true", "false")),
)
LAUNCH_ARGUMENTS = PROCESS_ARGUMENTS + tuple(_parameter_argument(spec) for spec in SPECS)
"""Every argument vsseg.launch.py declares, in order."""


def parse_value(spec: ParameterSpec, text: str) -> object:
    """``text`` as a value of ``spec``'s type, checked like the node checks it; ConfigError
    naming the argument otherwise."""
    value: object = text
    try:
        if spec.kind == "integer":
            value = int(text)
        elif spec.kind == "double":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
        elif spec.kind == "bool":
            value = BOOLEANS[text.strip().lower()]
    except (ValueError, KeyError):
        raise ConfigError(f"launch argument {spec.name}:={text!r} is not of type {spec.kind}"
                          ) from None
    if (reason := spec.check(value)) is not None:
        raise ConfigError(f"launch argument {spec.name}:={text!r}: {reason}")
    return value


def flag(values: Mapping[str, str], name: str) -> bool:
    """A true/false process argument."""
    text = values[name].strip().lower()
    if text not in BOOLEANS:
        raise ConfigError(f"launch argument {name}:={values[name]!r} must be true or false")
    return BOOLEANS[text]


def parameter_overrides(values: Mapping[str, str]) -> dict[str, object]:
    """The typed node parameters for the given launch arguments (name -> performed text):
    empty ones are left out, so the params file's values apply."""
    return {name: parse_value(BY_NAME[name], text) for name, text in values.items()
            if name in BY_NAME and text != ""}
