"""The node's parameter rules, config/vsseg.yaml and the launch file's arguments (which cannot be
launched in CI: launch/launch_ros are not on PyPI, so the file is checked statically)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytest.importorskip("yaml", reason="PyYAML comes with the ROS 2 wheels: run `make setup`")
from vsseg_core.errors import ConfigError  # noqa: E402
from vsseg_core.runtime.engine_cache import EngineOptions  # noqa: E402
from vsseg_ros.launch_arguments import (  # noqa: E402
    LAUNCH_ARGUMENTS,
    PROCESS_ARGUMENTS,
    flag,
    parameter_overrides,
)
from vsseg_ros.parameters import (  # noqa: E402
    BY_NAME,
    SPECS,
    config_path,
    engine_options,
    load_defaults,
    policy_string,
)

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / "launch" / "vsseg.launch.py"
ARGUMENTS = {a.name: a for a in LAUNCH_ARGUMENTS}


def test_config_file_holds_a_valid_default_for_every_parameter() -> None:
    assert config_path() == ROOT / "config" / "vsseg.yaml"
    defaults = load_defaults()
    assert set(defaults) == {spec.name for spec in SPECS}
    assert policy_string(defaults).startswith("adaptive")


def test_bad_config_files_are_refused(tmp_path: Path) -> None:
    text = (ROOT / "config" / "vsseg.yaml").read_text()
    broken = tmp_path / "a.yaml"
    broken.write_text(text.replace("interval: 5 ", "interval: 0 "))
    with pytest.raises(ConfigError, match=r"interval must be in \[1, 1000\]"):
        load_defaults(broken)
    broken.write_text(text.replace("    budget_ms: 50.0", "    budget: 50.0"))
    with pytest.raises(ConfigError, match="missing.*budget_ms.*unknown.*budget"):
        load_defaults(broken)


@pytest.mark.parametrize(("name", "value", "fragment"), [
    ("policy", "sometimes", "one of per_frame"), ("interval", 0, "[1, 1000]"),
    ("threshold", -0.5, "[0, 100]"), ("publish_color", 1, "must be a bool"),
    ("backend", "tensorflow", "one of auto"), ("budget_ms", "fast", "must be a double")])
def test_parameter_checks_give_reasons(name: str, value, fragment: str) -> None:
    reason = BY_NAME[name].check(value)
    assert reason is not None and fragment in reason and name in reason


def test_policy_strings() -> None:
    values = load_defaults()
    assert policy_string({**values, "policy": "fixed", "interval": 4}) == "fixed:4"
    assert policy_string({**values, "policy": "adaptive", "threshold": 0.0}) == "adaptive"
    assert policy_string({**values, "policy": "adaptive", "threshold": 0.7}) == "adaptive:0.7"
    assert policy_string({**values, "policy": "budget", "budget_ms": 40.0}) == "budget:40.0"
    assert policy_string({**values, "policy": "per_frame"}) == "per_frame"


def _launch_module() -> ast.Module:
    return ast.parse(LAUNCH.read_text())


def test_every_parameter_is_a_launch_argument_with_a_description() -> None:
    names = [a.name for a in LAUNCH_ARGUMENTS]
    assert len(names) == len(set(names))
    assert {s.name for s in SPECS} <= set(names)
    assert {a.name for a in PROCESS_ARGUMENTS} == {"camera_topic", "namespace", "params_file",
                                                    "use_sim_time", "log_level", "autostart",
                                                    "respawn"}
    for argument in LAUNCH_ARGUMENTS:
        assert argument.description.strip(), argument.name
        assert not argument.choices or argument.default in argument.choices, argument.name
    assert BY_NAME["policy"].choices == tuple(c for c in ARGUMENTS["policy"].choices if c)
    assert ARGUMENTS["low_latency"].choices == ("", "true", "false")


def test_launch_arguments_become_parameters_of_the_declared_type() -> None:
    given = {"budget_ms": "40", "threshold": "0.5", "interval": "3", "dla_core": "-1",
             "model": "123", "low_latency": "true", "publish_color": "False", "policy": "",
             "device": "cuda:1", "camera_topic": "/front/image_raw"}
    assert parameter_overrides(given) == {"budget_ms": 40.0, "threshold": 0.5, "interval": 3,
                                          "dla_core": -1, "model": "123", "low_latency": True,
                                          "publish_color": False, "device": "cuda:1"}
    typed = parameter_overrides(given)
    assert type(typed["budget_ms"]) is float and type(typed["interval"]) is int
    assert type(typed["model"]) is str


def test_the_node_takes_the_typed_values_and_refuses_their_text() -> None:
    """What launch_ros hands the node: the converted values are accepted by the node's own
    declarations; the text itself (what the old launch file passed) is refused by rclpy."""
    rclpy = pytest.importorskip("rclpy", reason="needs the ROS 2 wheels: run `make setup`")
    from rclpy.exceptions import InvalidParameterTypeException
    from rclpy.parameter import Parameter

    from vsseg_ros.node import SegmentationNode
    from vsseg_ros.probe import isolate_dds

    isolate_dds()
    rclpy.init()
    try:
        typed = parameter_overrides({"interval": "3", "budget_ms": "40", "dla_core": "0",
                                     "low_latency": "true", "model": "123"})
        node = SegmentationNode(parameter_overrides=[Parameter(k, value=v) for k, v in typed.items()])
        assert {k: node.get_parameter(k).value for k in typed} == typed
        node.destroy_node()
        with pytest.raises(InvalidParameterTypeException, match="interval"):
            SegmentationNode(parameter_overrides=[Parameter("interval", value="3")])
    finally:
        rclpy.try_shutdown()


@pytest.mark.parametrize("name, text, fragment", [
    ("interval", "3.5", "interval:='3.5' is not of type integer"),
    ("interval", "0", "interval must be in [1, 1000]"),
    ("budget_ms", "fast", "budget_ms:='fast' is not of type double"),
    ("budget_ms", "nan", "is not of type double"),
    ("low_latency", "yes", "low_latency:='yes' is not of type bool"),
    ("policy", "adaptiv", "policy must be one of per_frame, fixed, adaptive, budget"),
    ("device", "gpu", "device 'gpu' is not one of auto, cpu, cuda or cuda:N"),
])
def test_bad_launch_values_are_refused_at_launch_time(name: str, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        parameter_overrides({name: text})


def test_process_flags() -> None:
    assert flag({"respawn": "True"}, "respawn") is True
    with pytest.raises(ConfigError, match="respawn:='maybe' must be true or false"):
        flag({"respawn": "maybe"}, "respawn")


def test_the_launch_file_declares_the_table_and_passes_typed_parameters() -> None:
    """launch_ros cannot run in CI: the file is checked to take its arguments from the table
    (no literal argument names, no text performed into parameters) and to end the launch on a
    failed configure or a dead node. Run with the real launch 3.4.3 / launch_ros 0.26.6 by hand
    (see the session notes): typed values reach the node, model:=123 ends the launch with exit 1
    and the reason, Ctrl-C exits 0, a respawned node configures again after kill -9."""
    tree = _launch_module()
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "vsseg_ros.launch_arguments" for alias in node.names}
    assert {"LAUNCH_ARGUMENTS", "parameter_overrides", "flag"} <= imported
    declared = [call for call in ast.walk(tree) if isinstance(call, ast.Call)
                and getattr(call.func, "id", "") == "DeclareLaunchArgument"]
    assert declared and all(not (c.args and isinstance(c.args[0], ast.Constant)) for c in declared)
    for call in declared:
        assert any(k.arg == "description" for k in call.keywords)
    source = LAUNCH.read_text()
    assert source.count(".perform(") == 1  # the one comprehension over LAUNCH_ARGUMENTS
    # autostart is the node's own --autostart (it exits 1 when configure fails, and configures
    # again after a respawn); an exited node ends the launch, unless the launch is ending it
    assert '"--autostart"' in source and "OnProcessExit" in source and "context.is_shutdown" in source
    assert "ChangeState" not in source
    compile(source, str(LAUNCH), "exec")


def test_engine_options_from_parameters(tmp_path: Path) -> None:
    defaults = load_defaults()
    assert engine_options(defaults) == EngineOptions(cache_dir=None, workspace_mb=1024, dla_core=None)
    given = {**defaults, "engine_cache_dir": str(tmp_path), "workspace_mb": 512, "dla_core": 1}
    assert engine_options(given) == EngineOptions(cache_dir=tmp_path, workspace_mb=512, dla_core=1)
