"""`vsseg synth --profile`: ego speed profiles that stop, swing and park, without changing what
the default (cruise) generates for existing seeds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from vsseg_core.errors import ConfigError
from vsseg_core.labels import LABEL_ID_BY_NAME
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.generator import generate, iter_sequence
from vsseg_core.synth.road import EgoTrack, Road
from vsseg_core.synth.seeding import rng_for
from vsseg_core.synth.speed import PROFILE_CHOICES, PROFILES, sequence_profile

GOLDEN = {
    "c730e9b4fda739e2ecd3b6367a333d167ee2c469977ae7dd32d8cb147111110b":
        dict(sequences=2, frames=3, height=64, width=128, seed=5, cut_rate=0.3),
    "15dde8f58782e3a5f9fb3c90d867245a396d72d0e7618813b3a8cc81bc9b900e":
        dict(sequences=1, frames=4, height=64, width=128, seed=0, speed=20.0, turn=2.0),
}
"""SHA-256 of every frame's RGB and labelId bytes, computed with the generator as it was before
speed profiles existed: the default profile must keep generating exactly these frames."""
SMALL = dict(sequences=2, frames=6, height=256, width=512, seed=7)
DT = 0.02
MOVING_LABELS = [LABEL_ID_BY_NAME[name] for name in
                 ("person", "rider", "car", "truck", "bus", "motorcycle", "bicycle")]


def _frames_digest(config: SynthConfig) -> str:
    digest = hashlib.sha256()
    for seq in range(config.sequences):
        for item in iter_sequence(config, seq):
            digest.update(item.rgb.tobytes())
            digest.update(item.label_ids.tobytes())
    return digest.hexdigest()


def _pngs(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def _track(profile: str, seed: int, duration_s: float = 60.0, max_speed: float = 14.0) -> EgoTrack:
    rng = rng_for(seed, 0, 1)
    road = Road.random(rng, 1.0)
    return EgoTrack(rng, duration_s=duration_s, max_speed=max_speed, lane_lat=1.65, road=road,
                    dt=DT, profile=profile, profile_rng=rng_for(seed, 0, 8))


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for value in mask:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


@pytest.mark.parametrize("expected", sorted(GOLDEN))
def test_default_profile_keeps_old_seeds_byte_identical(expected: str) -> None:
    config = SynthConfig(**GOLDEN[expected])
    assert config.profile == "cruise"
    assert _frames_digest(config) == expected


@pytest.mark.parametrize("profile", ["stop_and_go", "mixed"])
def test_same_config_gives_identical_bytes(tmp_path: Path, profile: str) -> None:
    config = SynthConfig(profile=profile, **SMALL)
    first = generate(config, tmp_path / "a")
    second = generate(config, tmp_path / "b")
    assert _pngs(tmp_path / "a") == _pngs(tmp_path / "b")
    assert len(_pngs(tmp_path / "a")) == 2 * 6 * 2
    assert first["sequences"] == second["sequences"]
    manifest = json.loads((tmp_path / "a" / "synth.json").read_text())
    assert manifest["config"]["profile"] == profile
    for seq, record in enumerate(manifest["sequences"]):
        assert record["seq"] == seq and record["profile"] in PROFILES
        assert len(record["ego_speed_mps"]) == 6
        assert record["profile"] == sequence_profile(profile, 7, seq)


@pytest.mark.parametrize("profile", ["varying", "parked"])
def test_other_profiles_are_deterministic(profile: str) -> None:
    config = SynthConfig(sequences=1, frames=4, height=64, width=128, seed=3, profile=profile)
    assert _frames_digest(config) == _frames_digest(config)


def test_profiles_change_the_motion_but_not_the_place() -> None:
    base = dict(sequences=1, frames=1, height=64, width=128, seed=2)
    speeds = {}
    for profile in PROFILES:
        item = next(iter_sequence(SynthConfig(profile=profile, **base), 0))
        speeds[profile] = item.ego_speed
        assert item.profile == profile
    assert speeds["parked"] == 0.0
    assert len(set(speeds.values())) == len(PROFILES), speeds


def test_mixed_draws_each_profile_from_seed_and_sequence() -> None:
    drawn = [sequence_profile("mixed", 7, seq) for seq in range(40)]
    assert drawn == [sequence_profile("mixed", 7, seq) for seq in range(40)]
    assert set(drawn) == set(PROFILES)
    assert sequence_profile("varying", 7, 3) == "varying"
    seq = drawn.index("stop_and_go")
    mixed = SynthConfig(sequences=seq + 1, frames=3, height=64, width=128, seed=7, profile="mixed")
    alone = SynthConfig(sequences=seq + 1, frames=3, height=64, width=128, seed=7,
                        profile="stop_and_go")
    for a, b in zip(iter_sequence(mixed, seq), iter_sequence(alone, seq)):
        assert a.profile == b.profile == "stop_and_go"
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.label_ids, b.label_ids)


@pytest.mark.parametrize("seed", range(4))
def test_stop_and_go_stands_and_drives(seed: int) -> None:
    speed = _track("stop_and_go", seed).speeds
    accel = np.diff(speed) / DT
    assert _longest_run(speed == 0.0) * DT >= 1.0, "a stop of at least 1 s"
    assert (speed > 3.0).sum() * DT >= 2.0, "moving faster than 3 m/s for at least 2 s"
    assert speed.min() >= 0.0 and speed.max() <= 14.0
    assert accel.max() <= 3.0 + 1e-9 and accel.min() >= -4.0 - 1e-9, (accel.min(), accel.max())
    assert (accel > 1.0).any() and (accel < -1.5).any()


def test_stop_and_go_sequences_often_hold_both_standing_and_moving() -> None:
    duration = 30 / 17.0
    both = 0
    for seed in range(40):
        speed = _track("stop_and_go", seed, duration_s=duration).speeds[:int(duration / DT)]
        both += bool((speed == 0.0).any() and (speed > 1.0).any())
    assert both >= 6, f"only {both} of 40 short sequences both stand and move"


@pytest.mark.parametrize("seed", range(3))
def test_varying_swings_smoothly(seed: int) -> None:
    track = _track("varying", seed)
    speed = track.speeds
    accel = np.diff(speed) / DT
    assert speed.min() >= 0.1 * 14.0 - 1e-9 and speed.max() <= 14.0 + 1e-9
    assert speed.max() - speed.min() > 0.6 * 14.0
    assert np.abs(accel).max() <= 3.0 + 1e-9
    assert np.abs(np.diff(accel)).max() < 0.5, "acceleration changes gradually"
    headings = [track.pose(float(t)).heading for t in np.arange(0.0, 60.0, 0.5)]
    assert np.ptp(headings) > 0.05, "slow turns"


def test_parked_ego_does_not_move() -> None:
    track = _track("parked", 1, duration_s=10.0)
    assert not track.speeds.any()
    poses = [track.pose(float(t)) for t in np.arange(-2.0, 10.0, 0.25)]
    for field in ("s", "lat", "heading", "pitch"):
        assert len({getattr(p, field) for p in poses}) == 1, field
    assert all(p.speed == 0.0 and p.yaw_rate == 0.0 for p in poses)


def test_parked_labels_change_only_where_traffic_moves() -> None:
    config = SynthConfig(sequences=1, frames=8, height=128, width=256, seed=2, profile="parked")
    frames = [item.label_ids for item in iter_sequence(config, 0)]
    changed = 0
    for a, b in zip(frames, frames[1:]):
        moved = a != b
        agents = np.isin(a, MOVING_LABELS) | np.isin(b, MOVING_LABELS)
        assert not (moved & ~agents).any(), "a static pixel changed while parked"
        changed += int(moved.sum())
    assert changed > 100, "traffic and pedestrians should still pass a parked ego car"


def test_unknown_profile_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--profile must be one of cruise, stop_and_go"):
        SynthConfig(profile="fast")


def test_cli_rejects_unknown_profile_in_one_line(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("synth", "--out", out, "--sequences", "1", "--frames", "2", "--size", "64x128",
                 "--quiet", "--profile", "fast")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "--profile" in lines[0] and all(name in lines[0] for name in PROFILE_CHOICES), lines[0]
    assert not out.exists()


def test_help_documents_profile(cli) -> None:
    result = cli("synth", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--profile {" + ",".join(PROFILE_CHOICES) + "}" in text
    assert "(default cruise)" in text
