"""Engine cache keys, invalidation and corruption handling (no TensorRT needed)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from vsseg_core.runtime.base import BackendError
from vsseg_core.runtime.engine_cache import (
    CACHE_ENV,
    EngineCache,
    EngineKey,
    EngineOptions,
    default_cache_dir,
)

SHA = "c2c4789d650869932e9056653a0766b26d99b64a9f21de9bc813bdb526a3d409"
KEY = EngineKey("high", SHA, "10.13.0.35", "NVIDIA H100 80GB HBM3", (9, 0), "fp16")


def test_file_name_carries_everything_that_makes_an_engine_valid() -> None:
    assert KEY.file_name == "high-c2c4789d65086993-trt10.13.0.35-NVIDIA-H100-80GB-HBM3-sm90-fp16.engine"
    jetson = dataclasses.replace(KEY, gpu_name="Orin (nvgpu)", compute_capability=(8, 7),
                                 precision="int8", dla_core=1)
    assert jetson.file_name.endswith("-Orin-nvgpu-sm87-int8-dla1.engine")


@pytest.mark.parametrize("change", [
    {"graph": "low"}, {"onnx_sha256": "0" * 64}, {"tensorrt_version": "10.3.0.30"},
    {"gpu_name": "NVIDIA L4"}, {"compute_capability": (8, 9)}, {"precision": "int8"},
    {"dla_core": 0},
])
def test_any_changed_component_misses_the_cached_engine(tmp_path: Path, change: dict) -> None:
    cache = EngineCache(tmp_path)
    cache.store(KEY, b"engine bytes")
    other = dataclasses.replace(KEY, **change)
    assert other.file_name != KEY.file_name
    assert cache.load(other) is None
    assert cache.load(KEY) == b"engine bytes"


def test_sha_prefix_collision_is_caught_by_the_sidecar(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store(KEY, b"engine bytes")
    same_prefix = dataclasses.replace(KEY, onnx_sha256=SHA[:16] + "f" * 48)
    warnings: list[str] = []
    assert EngineCache(tmp_path, warn=warnings.append).load(same_prefix) is None
    assert "different build" in warnings[0]


def test_store_and_load_round_trip_with_sidecar(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "new" / "dir")
    path = cache.store(KEY, b"\x00\x01engine", build_seconds=12.5)
    assert path.parent == tmp_path / "new" / "dir"
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    assert meta["key"]["onnx_sha256"] == SHA and meta["engine_bytes"] == 8
    assert meta["build_seconds"] == 12.5
    assert cache.load(KEY) == b"\x00\x01engine"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".json"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_sidecar", "bad_json", "other_key"])
def test_corrupt_engine_is_removed_with_a_warning(tmp_path: Path, damage: str) -> None:
    warnings: list[str] = []
    cache = EngineCache(tmp_path, warn=warnings.append)
    path = cache.store(KEY, b"engine bytes" * 100)
    sidecar = path.with_name(path.name + ".json")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:50])
    elif damage == "flip":
        data = bytearray(path.read_bytes())
        data[7] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "no_sidecar":
        sidecar.unlink()
    elif damage == "bad_json":
        sidecar.write_text("{not json")
    else:
        meta = json.loads(sidecar.read_text())
        meta["key"]["precision"] = "fp32"
        sidecar.write_text(json.dumps(meta))
    assert cache.load(KEY) is None
    assert len(warnings) == 1 and str(path) in warnings[0] and "rebuilding" in warnings[0]
    assert not path.exists() and not sidecar.exists()


def test_discard_and_remove(tmp_path: Path) -> None:
    warnings: list[str] = []
    cache = EngineCache(tmp_path, warn=warnings.append)
    cache.store(KEY, b"x")
    cache.discard(KEY, "TensorRT could not deserialise it")
    assert "could not deserialise" in warnings[0] and cache.load(KEY) is None
    cache.remove(KEY)  # absent: nothing to do


def test_refuses_empty_engine_and_file_as_cache(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="empty engine"):
        EngineCache(tmp_path).store(KEY, b"")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackendError, match="is a file, not a directory"):
        EngineCache(tmp_path / "file")


def test_calibration_cache_is_shared_across_gpus_but_not_graph_versions(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    assert cache.read_calibration(KEY) is None
    cache.write_calibration(KEY, b"TRT-calibration")
    on_jetson = dataclasses.replace(KEY, gpu_name="Orin", compute_capability=(8, 7), dla_core=0,
                                    precision="int8")
    assert cache.read_calibration(on_jetson) == b"TRT-calibration"
    assert cache.read_calibration(dataclasses.replace(KEY, onnx_sha256="1" * 64)) is None
    assert cache.read_calibration(dataclasses.replace(KEY, tensorrt_version="10.3.0")) is None


@pytest.mark.parametrize("fields, message", [
    ({"precision": "int4"}, "not one of fp32, fp16, int8"),
    ({"onnx_sha256": "abc"}, "not a sha256"),
])
def test_invalid_keys(fields: dict, message: str) -> None:
    with pytest.raises(BackendError, match=message):
        dataclasses.replace(KEY, **fields)


def test_engine_options_validation() -> None:
    with pytest.raises(BackendError, match="at least 1 MiB"):
        EngineOptions(workspace_mb=0)
    with pytest.raises(BackendError, match="DLA core"):
        EngineOptions(dla_core=-2)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "engines"))
    assert default_cache_dir() == tmp_path / "engines"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "vsseg" / "engines"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "vsseg" / "engines"
    assert EngineCache().root == default_cache_dir()
