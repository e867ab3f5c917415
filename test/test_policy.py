"""Keyframe policies and the scheduler: pure decisions, each with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from vsseg_core.errors import ConfigError
from vsseg_core.temporal.policy import (
    Adaptive, Budget, Decision, FixedInterval, KeyframeScheduler, PerFrame, parse_policy,
)


@pytest.mark.parametrize("text, kind, spec", [
    ("per_frame", PerFrame, "per_frame"),
    ("fixed:5", FixedInterval, "fixed:5"),
    ("adaptive", Adaptive, "adaptive:0.25"),
    ("adaptive:0.4", Adaptive, "adaptive:0.4"),
    (" budget:45.5 ", Budget, "budget:45.5"),
])
def test_parse_valid(text: str, kind: type, spec: str) -> None:
    policy = parse_policy(text, default_threshold=0.25)
    assert type(policy) is kind and policy.spec == spec


@pytest.mark.parametrize("text", ["adaptive:-1", "fixed:0", "budget:abc", "fixed", "fixed:2.5",
                                  "per_frame:3", "adaptive:", "budget:0", "sometimes", ""])
def test_parse_invalid_names_the_string_and_the_choices(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_policy(text, default_threshold=0.25)
    assert repr(text) in str(err.value) and "fixed:K" in str(err.value)


def test_fixed_interval_keyframes_every_k_frames() -> None:
    scheduler = KeyframeScheduler(FixedInterval(3))
    flags = [scheduler.decide(i / 17, 0.0).keyframe for i in range(10)]
    assert flags == [True, False, False, True, False, False, True, False, False, True]


def test_adaptive_uses_deviation_and_max_interval() -> None:
    scheduler = KeyframeScheduler(Adaptive(0.5, max_interval=4))
    deviations = [None, 0.1, 0.7, 0.1, 0.1, 0.1, 0.1, 0.2]
    reasons = [scheduler.decide(i / 17, d).reason for i, d in enumerate(deviations)]
    assert reasons == ["first_frame", "deviation_below_threshold", "deviation",
                       "deviation_below_threshold", "deviation_below_threshold",
                       "deviation_below_threshold", "max_interval", "deviation_below_threshold"]


def test_time_jumps_and_scene_cuts_force_keyframes() -> None:
    scheduler = KeyframeScheduler(FixedInterval(100), max_gap_s=0.2, cut_deviation=5.0)
    stamps = [0.0, 0.06, 0.12, 0.05, 0.11, 0.9, 0.96, 1.02]
    changes = [None, 0.1, 0.1, 0.1, 0.1, 0.1, 9.0, 0.1]
    reasons = [scheduler.decide(s, 0.0 if c else None, c).reason for s, c in zip(stamps, changes)]
    assert reasons == ["first_frame", "interval", "interval", "time_jump", "interval",
                       "time_jump", "scene_cut", "interval"]
    assert scheduler.frames_since_keyframe == 1


def test_scene_cuts_are_judged_frame_to_frame_not_against_the_keyframe() -> None:
    """Slow drift far from the keyframe is not a cut; a sudden change between frames is."""
    scheduler = KeyframeScheduler(FixedInterval(100), cut_deviation=0.5)
    assert scheduler.decide(0.0, None).reason == "first_frame"
    assert scheduler.decide(0.05, 3.0, 0.1) == Decision(False, "interval")
    assert scheduler.decide(0.10, 3.0, None) == Decision(False, "interval")
    assert scheduler.decide(0.15, 3.0, 0.6) == Decision(True, "scene_cut")


def test_reset_starts_a_new_stream() -> None:
    scheduler = KeyframeScheduler(FixedInterval(100))
    assert scheduler.decide(0.0, None).reason == "first_frame"
    assert scheduler.decide(0.05, 0.0).reason == "interval"
    scheduler.reset()
    assert scheduler.frames_since_keyframe == 0
    assert scheduler.decide(10.0, 0.3) == Decision(True, "first_frame")


def test_budget_holds_the_mean_latency_of_a_simulated_stream() -> None:
    """Keyframes cost 100 ms, propagated frames 20 ms; a 40 ms budget over 300 frames
    must end within +-10% (deviation grows with frames since the keyframe, plus noise)."""
    rng = np.random.default_rng(0)
    policy = parse_policy("budget:40", default_threshold=0.05)
    scheduler = KeyframeScheduler(policy)
    latencies = []
    for i in range(300):
        deviation = None if i == 0 else 0.02 * scheduler.frames_since_keyframe + abs(rng.normal(0, 0.01))
        decision = scheduler.decide(i / 17, deviation)
        latency = (100.0 if decision.keyframe else 20.0) + rng.normal(0, 3)
        policy.observe(decision.keyframe, latency)
        latencies.append(latency)
    assert abs(np.mean(latencies) - 40.0) <= 4.0, np.mean(latencies)
    before = policy.threshold
    policy.reset()
    assert policy.threshold == pytest.approx(0.05) and before != policy.threshold


def test_budget_ignores_invalid_latency() -> None:
    policy = Budget(0.1, budget_ms=40.0)
    policy.observe(True, float("nan"))
    policy.observe(True, -1.0)
    assert policy.threshold == 0.1


def test_budget_says_when_propagated_frames_alone_exceed_it() -> None:
    policy = Budget(0.1, budget_ms=30.0)
    for _ in range(20):
        policy.observe(True, 45.0)
        assert policy.shortfall() is None  # keyframes alone say nothing about the floor
    for _ in range(9):
        policy.observe(False, 37.0)
    assert policy.shortfall() is None  # too few propagated frames yet
    policy.observe(False, 37.0)
    message = policy.shortfall()
    assert message is not None and "budget 30 ms" in message and "37.0 ms" in message
    policy.reset()
    assert policy.shortfall() is None
    reachable = Budget(0.1, budget_ms=40.0)
    for _ in range(20):
        reachable.observe(False, 37.0)
    assert reachable.shortfall() is None
