"""The TensorRT backend type-checks against tensorrt-stubs (mypy), and the check can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "typecheck_tensorrt.py"


def _typecheck(*files: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), "--cache-dir", str(cache), *map(str, files)],
                          capture_output=True, text=True, timeout=600, check=False)


def test_tensorrt_backend_is_clean_against_the_stubs() -> None:
    result = _typecheck(cache=ROOT / ".mypy_cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_wrong_tensorrt_calls_are_caught(tmp_path: Path) -> None:
    """TensorRT 8-era and misspelt calls: the check must flag each one."""
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "import tensorrt as trt\n\n\n"
        "def build(logger: trt.ILogger) -> None:\n"
        "    builder = trt.Builder(logger)\n"
        "    config = builder.create_builder_config()\n"
        "    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE)\n"
        "    config.set_flag(trt.BuilderFlag.FP17)\n"
        "    builder.build_serialized_network(builder.create_network(0))\n"
        "    engine = trt.Runtime(logger).deserialize_cuda_engine(b'')\n"
        "    engine.get_binding_index('low')\n"
        "    context = engine.create_execution_context()\n"
        "    context.execute_async_v2([0], 0)\n"
    )
    result = _typecheck(wrong, cache=ROOT / ".mypy_cache")
    assert result.returncode == 1
    for message in ('Missing positional argument "pool_size"', 'has no attribute "FP17"',
                    'Missing positional argument "config"', 'has no attribute "get_binding_index"',
                    'has no attribute "execute_async_v2"'):
        assert message in result.stdout, (message, result.stdout)
