"""Subcommands: the one way a subcommand module is added to a parser, and the ones other
packages register as entry points (vsseg_ros: node-demo, bench-node; bag play, record, replay).

A subcommand module has NAME, HELP, add_arguments(parser) and run(args) -> int.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from types import ModuleType

COMMANDS_GROUP = "vsseg.commands"
"""Entry points adding `vsseg` subcommands from other packages."""
BAG_COMMANDS_GROUP = "vsseg.bag_commands"
"""Entry points adding `vsseg bag` subcommands from other packages."""


def plugin_commands(group: str) -> Iterator[ModuleType]:
    """Subcommand modules registered under ``group`` whose imports work here (the ROS 2 ones
    need the ROS wheels and the built interfaces)."""
    for entry in entry_points(group=group):
        try:
            yield entry.load()
        except ImportError:
            continue


def add_subcommands(sub: argparse._SubParsersAction, modules: Iterable[ModuleType], *,
                    run_key: str = "run") -> None:
    """A parser for each module under ``sub``; its ``run`` is stored as ``args.<run_key>``."""
    for module in modules:
        child = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(child)
        child.set_defaults(**{run_key: module.run})
