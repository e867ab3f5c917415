"""Bad input to `vsseg synth`: one clear line, non-zero exit, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.generator import generate

TINY = ["--sequences", "1", "--frames", "2", "--size", "64x128", "--quiet"]


def _assert_clean_failure(result, expect: str, rc: int) -> None:
    assert result.returncode == rc, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expect in lines[0], lines[0]


@pytest.mark.parametrize("args, expect", [
    (["--size", "256x256"], "not H:W = 1:2"),
    (["--size", "250x500"], "multiple of 32"),
    (["--size", "big"], "is not HxW"),
    (["--sequences", "0"], "--sequences must be >= 1"),
    (["--frames", "-3"], "--frames must be >= 1"),
    (["--turn", "7"], "--turn must be in [0, 3]"),
    (["--cut-rate", "-0.1"], "--cut-rate"),
    (["--preview", "sheet.jpg"], "must end in .png"),
])
def test_bad_options_are_rejected(cli, tmp_path: Path, args: list[str], expect: str) -> None:
    out = tmp_path / "out"
    result = cli("synth", "--out", out, *TINY, *args)
    _assert_clean_failure(result, expect, 2 if "--size" in args or "--preview" in args else 1)
    assert not out.exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_missing_out_is_a_usage_error(cli) -> None:
    _assert_clean_failure(cli("synth", *TINY), "--out", 2)


def test_non_empty_out_needs_overwrite(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = cli("synth", "--out", out, *TINY)
    _assert_clean_failure(result, "--overwrite", 1)
    assert (out / "keep.txt").read_text() == "precious"
    assert cli("synth", "--out", out, *TINY, "--overwrite").returncode == 0
    assert not (out / "keep.txt").exists()
    assert (out / "synth.json").exists()


def test_unwritable_out_is_reported(cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = cli("synth", "--out", blocker / "sub" / "out", *TINY)
    _assert_clean_failure(result, f"{blocker} is a file, so", 1)


def test_interruption_leaves_no_partial_dataset(tmp_path: Path) -> None:
    config = SynthConfig(sequences=1, frames=5, height=64, width=128)
    out = tmp_path / "out"
    generate(config, out)
    before = sorted(p.name for p in out.rglob("*"))

    def interrupt(item) -> None:
        if item.fid.frame == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(SynthConfig(sequences=1, frames=5, height=64, width=128, seed=9), out,
                 overwrite=True, on_frame=interrupt)
    assert sorted(p.name for p in out.rglob("*")) == before  # the old dataset is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging directory left
    with pytest.raises(KeyboardInterrupt):
        generate(config, tmp_path / "new", on_frame=interrupt)
    assert not (tmp_path / "new").exists()
