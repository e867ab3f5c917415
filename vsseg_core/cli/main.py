"""``vsseg`` entry point: builds the subcommand parsers and turns user errors into exit codes.

Exit codes: 0 success, 1 a user-fixable error while running (message on stderr), 2 bad
arguments (argparse), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vsseg_core import __version__
from vsseg_core.cli import (
    bag,
    bench,
    build_engine,
    evaluate,
    export,
    import_model,
    labels,
    segment,
    synth,
    train,
    train_propagation,
)
from vsseg_core.cli.plugins import COMMANDS_GROUP, add_subcommands, plugin_commands
from vsseg_core.errors import VssegError

SUBCOMMANDS = (synth, train, train_propagation, export, import_model, segment, evaluate, bench, bag,
               build_engine, labels)
"""Each module has NAME, HELP, add_arguments(parser) and run(args) -> int (``cli.plugins``)."""


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
    add_subcommands(sub, (*SUBCOMMANDS, *plugin_commands(COMMANDS_GROUP)))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(filter(None, (args.command, getattr(args, "bag_command", None),
                                     getattr(args, "import_command", None))))
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


