"""The `vsseg` entry point: subcommands, help, usage errors, `vsseg labels`."""

from __future__ import annotations

import json

from vsseg_core.labels import NUM_CLASSES, TRAIN_CLASSES


def test_help_lists_subcommands(cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for name in ("synth", "labels"):
        assert name in result.stdout


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
