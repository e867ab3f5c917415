"""The `vsseg` entry point: subcommands, help, usage errors, `vsseg labels`."""

from __future__ import annotations

import argparse
import json

import pytest

from vsseg_core.cli.main import build_parser, main
from vsseg_core.labels import NUM_CLASSES, TRAIN_CLASSES


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """``parser``'s subcommands by name, in the order --help lists them."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1, parser.prog
    return dict(actions[0].choices)


COMMANDS = _subcommands(build_parser())
BAG_COMMANDS = _subcommands(COMMANDS["bag"])
"""What the real parser has: the core subcommands and the entry-point plugins that import here."""


def test_help_lists_subcommands(cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


def test_every_subcommand_is_found() -> None:
    assert {"synth", "train", "train-propagation", "export", "segment", "eval", "bench", "bag",
            "build-engine", "labels"} <= set(COMMANDS)
    assert {"from-cityscapes", "segment", "eval"} <= set(BAG_COMMANDS)


def test_the_ros_subcommands_are_there_with_the_ros_wheels() -> None:
    pytest.importorskip("rclpy", reason="ROS 2 wheels not installed: run `make setup`")
    pytest.importorskip("vsseg.msg", reason="vsseg interfaces not built: run `make setup`")
    assert {"node-demo", "bench-node"} <= set(COMMANDS)
    assert {"play", "record", "replay"} <= set(BAG_COMMANDS)


@pytest.mark.parametrize("command", [(name,) for name in COMMANDS] +
                         [("bag", name) for name in BAG_COMMANDS], ids=" ".join)
def test_every_subcommand_help_exits_0(command: tuple[str, ...], capsys) -> None:
    """In this process (the parser the `vsseg` entry point builds; a subprocess each would
    take seconds): argparse prints the help and exits 0, or the help text is broken."""
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    printed = capsys.readouterr()
    assert printed.out.startswith(f"usage: vsseg {' '.join(command)} [-h]"), printed.out
    assert printed.err == ""


def test_missing_or_unknown_subcommand_exits_2_with_one_line(cli) -> None:
    for args in ((), ("frobnicate",), ("labels", "--bogus")):
        result = cli(*args)
        assert result.returncode == 2, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "--help" in result.stderr


def test_labels_table_and_json(cli) -> None:
    table = cli("labels")
    assert table.returncode == 0
    rows = [line.split() for line in table.stdout.splitlines()[1:] if line.strip()]
    assert [int(r[0]) for r in rows] == list(range(NUM_CLASSES)) + [255]
    parsed = json.loads(cli("labels", "--json").stdout)
    assert parsed["ignore_id"] == 255
    assert [(c["train_id"], c["label_id"], c["name"]) for c in parsed["classes"]] == [
        (c.train_id, c.label_id, c.name) for c in TRAIN_CLASSES]
