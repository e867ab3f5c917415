"""Output paths: refused before the work when they cannot be written, and written whole or not
at all (``vsseg_core.staging``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsseg_core.staging import (OutputError, check_output_directory, check_output_file,
                                replacing_file, write_text_atomic)


def test_check_output_file_accepts_new_paths_and_refuses_unusable_ones(tmp_path: Path) -> None:
    check_output_file(tmp_path / "new" / "deeper" / "x.json")  # folders are created on write
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(OutputError, match="dir.json is a directory"):
        check_output_file(tmp_path / "dir.json")
    (tmp_path / "file").write_text("mine")
    with pytest.raises(OutputError, match="file is a file, so .*x.json cannot be created"):
        check_output_file(tmp_path / "file" / "sub" / "x.json")


def test_check_output_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    check_output_directory(out, overwrite=False)
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty; pass --overwrite"):
        check_output_directory(out, overwrite=False)
    check_output_directory(out, overwrite=True)
    with pytest.raises(OutputError, match="is not a directory"):
        check_output_directory(out / "keep.txt", overwrite=True)
    with pytest.raises(OutputError, match="keep.txt is a file"):
        check_output_directory(out / "keep.txt" / "sub", overwrite=True)
    monkeypatch.chdir(out)
    with pytest.raises(OutputError, match="holds the current directory"):
        check_output_directory(tmp_path, overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"


def test_a_failed_file_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_text_atomic(path, "old\n")
    with pytest.raises(RuntimeError):
        with replacing_file(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("the work failed")
    assert path.read_text() == "old\n" and sorted(tmp_path.iterdir()) == [path]
    (tmp_path / "blocker").write_text("mine")
    with pytest.raises(OutputError, match="cannot write .*blocker/x.json.*choose a writable path"):
        write_text_atomic(tmp_path / "blocker" / "x.json", "{}")
