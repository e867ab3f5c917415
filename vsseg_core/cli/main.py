"""``vsseg`` entry point: builds the subcommand parsers and turns user errors into exit codes.

Exit codes: 0 success, 1 a user-fixable error while running (message on stderr), 2 bad
arguments (argparse), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points
from types import ModuleType

from vsseg_core import __version__
from vsseg_core.cli import (
    bag,
    bench,
    build_engine,
    evaluate,
    export,
    labels,
    segment,
    synth,
    train,
    train_propagation,
)
from vsseg_core.errors import VssegError

SUBCOMMANDS = (synth, train, train_propagation, export, segment, evaluate, bench, bag, build_engine,
               labels)
"""Each module has NAME, HELP, add_arguments(parser) and run(args) -> int."""
PLUGIN_GROUP = "vsseg.commands"
"""Entry points adding subcommands from other packages (vsseg_ros: node-demo, bench-node)."""


def plugin_commands(group: str = PLUGIN_GROUP) -> Iterator[ModuleType]:
    """Subcommand modules registered under ``group`` whose imports work here (the ROS 2 ones
    need the ROS wheels and the built interfaces)."""
    for entry in entry_points(group=group):
        try:
            yield entry.load()
        except ImportError:
            continue


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error that points at --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vsseg",
        description="Real-time semantic segmentation of driving video (Cityscapes trainIds).",
    )
    parser.add_argument("--version", action="version", version=f"vsseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in (*SUBCOMMANDS, *plugin_commands()):
        child = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(child)
        child.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(filter(None, (args.command, getattr(args, "bag_command", None))))
    try:
        return int(args.run(args))
    except VssegError as exc:
        print(f"vsseg {command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path the checks before the work could not foresee (disk full, EPERM)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"vsseg {command}: error: {where}{exc.strerror or exc}; check the path, its "
              "permissions and the free space", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vsseg {command}: interrupted", file=sys.stderr)
        return 130


