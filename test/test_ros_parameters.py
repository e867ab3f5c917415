"""The node's parameter rules, config/vsseg.yaml and the launch file's arguments (which cannot be
launched in CI: launch/launch_ros are not on PyPI, so the file is checked statically)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest.importorskip("yaml", reason="PyYAML comes with the ROS 2 wheels: run `make setup`")
from vsseg_core.errors import ConfigError  # noqa: E402
from vsseg_core.runtime.engine_cache import EngineOptions  # noqa: E402
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


def test_every_launch_argument_maps_to_a_declared_parameter() -> None:
    tree = _launch_module()
    mapping = next(node for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   and getattr(node.targets[0], "id", "") == "PARAMETER_ARGUMENTS")
    arguments = ast.literal_eval(mapping.value)
    defaults = load_defaults()
    assert set(arguments) <= set(defaults), set(arguments) - set(defaults)
    assert all(description.strip() for description in arguments.values())
    declared = [call for call in ast.walk(tree) if isinstance(call, ast.Call)
                and getattr(call.func, "id", "") == "DeclareLaunchArgument"]
    literal = [c for c in declared if c.args and isinstance(c.args[0], ast.Constant)]
    assert {c.args[0].value for c in literal} == {"camera_topic", "namespace", "params_file"}
    for call in declared:  # every argument, including the generated ones, has a description
        assert any(k.arg == "description" for k in call.keywords)


def test_engine_options_from_parameters(tmp_path: Path) -> None:
    defaults = load_defaults()
    assert engine_options(defaults) == EngineOptions(cache_dir=None, workspace_mb=1024, dla_core=None)
    given = {**defaults, "engine_cache_dir": str(tmp_path), "workspace_mb": 512, "dla_core": 1}
    assert engine_options(given) == EngineOptions(cache_dir=tmp_path, workspace_mb=512, dla_core=1)
