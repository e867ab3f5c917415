"""argparse types shared by several subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vsseg_core.bundle import Bundle
from vsseg_core.errors import ConfigError
from vsseg_core.runtime.base import DEVICE_HELP, Backend, device_problem
from vsseg_core.runtime.engine_cache import CACHE_HELP, PRECISIONS, EngineOptions
from vsseg_core.runtime.factory import BACKENDS, choose_backend, create_backend
from vsseg_core.staging import OutputError, check_output_file
from vsseg_core.synth.config import parse_size
from vsseg_core.temporal.policy import parse_policy


def size_arg(text: str) -> tuple[int, int]:
    """``HxW`` -> (H, W) pixels (H:W = 1:2, H a multiple of 32), as an argparse type."""
    try:
        return parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def device_arg(text: str) -> str:
    """A device request: auto, cpu, cuda or cuda:N (argparse type; ``device_problem``)."""
    if (problem := device_problem(text)) is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def output_file_arg(text: str) -> Path:
    """A path for a file this command writes, checked before any work (argparse type): not a
    directory, and under a writable directory (``staging.check_output_file``)."""
    try:
        check_output_file(text)
    except OutputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return Path(text)


def png_arg(text: str) -> Path:
    """A path for a picture this command writes; it must end in .png (argparse type)."""
    if Path(text).suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text}: must end in .png")
    return output_file_arg(text)


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


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """--backend, --device, --precision and --engine-cache (read by ``open_backend``)."""
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="inference backend; auto = tensorrt with a CUDA GPU, else onnxruntime "
                             "(default %(default)s)")
    parser.add_argument("--device", type=device_arg, default="auto", metavar="DEVICE",
                        help=f"{DEVICE_HELP}; auto uses CUDA when available (default %(default)s)")
    parser.add_argument("--precision", choices=("auto", *PRECISIONS), default="auto",
                        help="auto = fp16 for torch and tensorrt on CUDA, else fp32; int8 for "
                             "tensorrt engines built by `vsseg build-engine` (default %(default)s)")
    parser.add_argument("--engine-cache", type=Path, metavar="DIR",
                        help=f"TensorRT engine cache (default: {CACHE_HELP})")


def open_backend(args: argparse.Namespace, bundle: Bundle) -> Backend:
    """The backend ``add_backend_arguments`` describes; says on stderr what auto chose."""
    name, why = choose_backend(args.backend, args.device)
    if args.backend == "auto":
        print(f"backend: {name} ({why})", file=sys.stderr)
    return create_backend(args.backend, bundle, device=args.device, precision=args.precision,
                          engine=EngineOptions(cache_dir=args.engine_cache),
                          log=lambda line: print(line, file=sys.stderr, flush=True))
