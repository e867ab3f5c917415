"""Corrupt bags, as a disk or a copy leaves them: a sqlite3 bag with bytes overwritten
mid-file is one clear error (exit 1, no traceback); an MCAP bag whose chunk no longer matches
its recorded CRC is segmented and scored without that chunk's messages, with a warning that
says what was skipped. Real bags written by `rosbags`; the MCAP CRCs are filled in as
rosbag2's MCAP writer records them (rosbags writes 0, "not computed")."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from vsseg_core.bags.integrity import MCAP_MAGIC, corrupt_chunks, mcap_corrupt_chunks

from conftest import run_cli


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corruptdata") / "D"
    result = run_cli("synth", "--out", out, "--sequences", "1", "--frames", "12", "--size",
                     "128x256", "--seed", "41")
    assert result.returncode == 0, result.stderr
    return out


def _bag(dataset: Path, out: Path, storage: str) -> Path:
    result = run_cli("bag", "from-cityscapes", "--data", dataset, "--out", out, "--storage",
                     storage, "--with-labels", "--quiet")
    assert result.returncode == 0, result.stderr
    return out


def _storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in (".db3", ".mcap"))


def _overwrite_middle(path: Path, size: int = 8192) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + size] = np.random.default_rng(0).integers(0, 256, size, np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _record_crcs(path: Path) -> int:
    """Write each uncompressed chunk's real CRC into its header (as rosbag2 does); returns how
    many chunks there are."""
    data = bytearray(path.read_bytes())
    position, chunks = len(MCAP_MAGIC), 0
    while position + 9 <= len(data):
        opcode, length = struct.unpack_from("<BQ", data, position)
        body = position + 9
        if opcode == 0x06:
            (name_length,) = struct.unpack_from("<I", data, body + 28)
            (records_length,) = struct.unpack_from("<Q", data, body + 32 + name_length)
            start = body + 40 + name_length
            struct.pack_into("<I", data, body + 24, zlib.crc32(data[start:start + records_length]))
            chunks += 1
        if opcode == 0x02:
            break
        position = body + length
    path.write_bytes(bytes(data))
    return chunks


def test_a_corrupt_sqlite3_bag_is_one_clear_error(dataset: Path, tmp_path: Path) -> None:
    bag = _bag(dataset, tmp_path / "in", "sqlite3")
    _overwrite_middle(_storage_file(bag))
    for args in (("segment", "--in", bag, "--out", tmp_path / "out"), ("eval", "--bag", bag)):
        result = run_cli("bag", *args, "--quiet")
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert f"bag {bag} is corrupt" in result.stderr or "has no topic" in result.stderr, result.stderr
    segment = run_cli("bag", "segment", "--in", bag, "--out", tmp_path / "out2", "--quiet")
    assert "is corrupt: reading failed after" in segment.stderr and "restore it" in segment.stderr


def test_a_corrupt_mcap_chunk_is_reported_and_skipped(dataset: Path, tmp_path: Path) -> None:
    bag = _bag(dataset, tmp_path / "in", "mcap")
    storage = _storage_file(bag)
    assert _record_crcs(storage) >= 2
    assert corrupt_chunks(bag) == []  # intact, with CRCs: nothing to report
    intact = run_cli("bag", "segment", "--in", bag, "--out", tmp_path / "intact", "--quiet")
    assert intact.returncode == 0 and "corrupt" not in intact.stderr, intact.stderr
    broken = tmp_path / "broken"
    shutil.copytree(bag, broken)
    _overwrite_middle(_storage_file(broken))
    chunks = mcap_corrupt_chunks(_storage_file(broken))
    assert len(chunks) == 1 and "CRC" in chunks[0].reason
    result = run_cli("bag", "segment", "--in", broken, "--out", tmp_path / "out", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "1 corrupt MCAP chunk(s)" in result.stderr and "skipped the" in result.stderr
    frames = int(intact.stdout.split("wrote ")[1].split(": ")[1].split(" frames")[0])
    kept = int(result.stdout.split("wrote ")[1].split(": ")[1].split(" frames")[0])
    assert 0 < kept < frames  # the corrupt chunk's frames were skipped, the others segmented
    scored = run_cli("bag", "eval", "--bag", tmp_path / "out", "--quiet")
    assert scored.returncode == 0, scored.stderr


def test_rosbags_mcap_without_crcs_has_nothing_to_check(dataset: Path, tmp_path: Path) -> None:
    """rosbags records CRC 0 ("not computed"): the check cannot see payload damage there, and
    says nothing rather than guessing."""
    bag = _bag(dataset, tmp_path / "in", "mcap")
    _overwrite_middle(_storage_file(bag))
    assert corrupt_chunks(bag) == []
