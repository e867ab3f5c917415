"""argparse types shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from vsseg_core.bundle import DEFAULT_BUNDLE, Bundle, BundleError
from vsseg_core.errors import ConfigError
from vsseg_core.synth.config import parse_size
from vsseg_core.temporal.policy import parse_policy


def size_arg(text: str) -> tuple[int, int]:
    """``HxW`` -> (H, W) pixels (H:W = 1:2, H a multiple of 32), as an argparse type."""
    try:
        return parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def policy_arg(text: str) -> str:
    """A keyframe policy string, checked for syntax (the threshold comes from the bundle later)."""
    try:
        parse_policy(text, default_threshold=1.0)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text.strip()


def policies_arg(text: str) -> list[str]:
    """Comma-separated policy strings, each checked by ``policy_arg``."""
    policies = [policy_arg(item) for item in text.split(",") if item.strip()]
    if not policies:
        raise argparse.ArgumentTypeError("give at least one policy, e.g. per_frame,fixed:5,adaptive")
    return policies


def load_bundle(model: Path | None) -> Bundle:
    """The bundle a --model option names, or the shipped model when it is None."""
    if model is None and not DEFAULT_BUNDLE.is_dir():
        raise BundleError(f"the shipped model {DEFAULT_BUNDLE} is not installed; pass --model "
                          "BUNDLE (a directory written by `vsseg export`)")
    return Bundle.load(model)
