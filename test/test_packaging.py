"""The package's own metadata is enough: `pip install .` into a clean venv (no ROS wheels, no
requirements files) gives a `vsseg` whose --help and `synth` work. Takes about 1.5 min (the
wheels come from pip's cache or the registry)."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("setup.py", "package.xml", "resource", "config", "msg", "launch", "vsseg_core",
           "vsseg_ros")


def test_pip_install_gives_a_working_vsseg(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy: the install must not depend on (or write into) the checkout
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, source / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    install = subprocess.run([bin_dir / "python", "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", str(source)],
                             capture_output=True, text=True, timeout=900, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    for args in (["--help"], ["synth", "--help"], ["labels"]):
        result = subprocess.run([bin_dir / "vsseg", *args], capture_output=True, text=True,
                                timeout=300, check=False, cwd=tmp_path)
        assert result.returncode == 0, f"vsseg {' '.join(args)}: {result.stderr[-2000:]}"
    assert "road" in result.stdout  # `vsseg labels` printed the class table
    out = tmp_path / "synth"
    made = subprocess.run([bin_dir / "vsseg", "synth", "--out", out, "--sequences", "1",
                           "--frames", "2", "--size", "64x128", "--seed", "3"],
                          capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-2000:]
    assert len(list(out.rglob("*_leftImg8bit.png"))) == 2
