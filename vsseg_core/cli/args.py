"""argparse types shared by several subcommands."""

from __future__ import annotations

import argparse

from vsseg_core.errors import ConfigError
from vsseg_core.synth.config import parse_size


def size_arg(text: str) -> tuple[int, int]:
    """``HxW`` -> (H, W) pixels (H:W = 1:2, H a multiple of 32), as an argparse type."""
    try:
        return parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
