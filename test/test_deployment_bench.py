"""benchmarks/deployment_bench.py: a tiny run produces both frame types with positive costs, the
propagation factory refuses unknown modes, and bad options exit 2 naming the option."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from vsseg_core.model.kernel_propagation import KernelPropagation
from vsseg_core.model.propagation import FeaturePropagation
from vsseg_core.model.pspnet import PSPNet

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "deployment_bench.py"


def _load_script():
    """The script as a module (benchmarks/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("deployment_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_script()


def test_make_propagation_builds_each_mode_and_refuses_others() -> None:
    model = PSPNet(bench.deployment_config("resnet18", (64, 128), head_channels=32, decoder_channels=16))
    assert isinstance(bench.make_propagation(model), FeaturePropagation)
    assert isinstance(bench.make_propagation(model, "kernel"), KernelPropagation)
    with pytest.raises(ValueError, match="unknown propagation mode 'warp'; choose one of flow, kernel"):
        bench.make_propagation(model, "warp")


@pytest.mark.parametrize("args, option", [
    (["--frames", "1"], "--frames"), (["--threads", "0"], "--threads"),
    (["--backbones", "resnet19"], "--backbones"), (["--sizes", "256x500"], "--sizes"),
    (["--sizes", "32x64"], "--sizes"), (["--sizes", "256x512,"], "--sizes"),
    (["--propagation", "warp"], "--propagation"), (["--head-channels", "0"], "--head-channels"),
])
def test_bad_options_exit_2_naming_the_option(args: list[str], option: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(args)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"error: {option}" in error


def test_tiny_run_reports_keyframes_and_propagated_frames(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert bench.main(["--backbones", "resnet18", "--sizes", "64x128", "--frames", "6", "--threads", "1",
                       "--head-channels", "32", "--decoder-channels", "16", "--json", str(out),
                       "--propagation", "flow,kernel"]) == 0
    table = capsys.readouterr().out
    assert "| resnet18 | 64x128 | flow | keyframe | 2 |" in table
    assert "| resnet18 | 64x128 | flow | propagated | 4 |" in table
    assert "| resnet18 | 64x128 | kernel | propagated | 4 |" in table
    run, kernel_run = json.loads(out.read_text())["runs"]
    assert kernel_run["kinds"]["propagated"]["median_ms"]["flow"] == 0.0
    key, prop = run["kinds"]["keyframe"]["median_ms"], run["kinds"]["propagated"]["median_ms"]
    assert (run["kinds"]["keyframe"]["frames"], run["kinds"]["propagated"]["frames"]) == (2, 4)
    assert key["high"] > 0 and key["prop"] == key["flow"] == 0
    assert prop["prop"] > 0 and prop["flow"] > 0 and prop["high"] == 0
    assert run["ratio"] == pytest.approx(prop["total"] / key["total"])
    assert all(run["gflops"][g] > 0 for g in ("low", "high", "prop"))
    assert [f["keyframe"] for f in run["frames"]] == [True, False, False, False, False, True]


def test_a_json_path_that_cannot_be_written_exits_2_before_any_run(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--backbones", "resnet18", "--sizes", "64x128", "--json", str(tmp_path)]) == 2
    assert "error: --json: cannot write" in capsys.readouterr().err
