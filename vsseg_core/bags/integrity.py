"""Corruption a bag's storage can show: MCAP chunks whose CRC does not match their records
(rosbag2's MCAP writer records CRCs; rosbags writes 0, which means "not computed" and leaves
nothing to check) and records that overrun the file. rosbags itself refuses a chunk whose CRC
fails, which would end the whole read: found first, such chunks are read around
(``io.read_messages(skip=...)``). sqlite3 corruption surfaces while reading.

MCAP layout used here (mcap.dev spec): 8-byte magic, then records of opcode (u8), length (u64
little-endian) and content; a Chunk (opcode 0x06) holds message_start_time, message_end_time,
uncompressed_size (u64), uncompressed_crc (u32), compression (u32-prefixed string) and its
records (u64-prefixed bytes).
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader

from vsseg_core.bags.io import read_messages

MCAP_MAGIC = b"\x89MCAP0\r\n"
_CHUNK, _FOOTER = 0x06, 0x02


@dataclass(frozen=True)
class CorruptChunk:
    """Messages logged from ``start_ns`` to ``end_ns`` (inclusive) are in a chunk that failed
    its check at byte ``offset`` of ``file``; ``reason`` says how."""

    file: str
    offset: int
    start_ns: int
    end_ns: int
    reason: str

    @property
    def time_range(self) -> tuple[int, int]:
        """(first, last) log time in ns of the messages in the chunk."""
        return self.start_ns, self.end_ns


def _chunk_problem(data: bytes, body: int) -> tuple[int, int, str | None]:
    """(start_ns, end_ns, problem or None) of the Chunk record whose content starts at ``body``."""
    start, end, _, crc = struct.unpack_from("<QQQI", data, body)
    (name_length,) = struct.unpack_from("<I", data, body + 28)
    compression = data[body + 32:body + 32 + name_length]
    (records_length,) = struct.unpack_from("<Q", data, body + 32 + name_length)
    records = data[body + 40 + name_length:body + 40 + name_length + records_length]
    if crc == 0 or compression:  # not recorded; compressed chunks are checked by the decoder
        return start, end, None
    actual = zlib.crc32(records)
    return start, end, None if actual == crc else f"CRC {actual:#010x}, recorded {crc:#010x}"


def mcap_corrupt_chunks(path: str | Path) -> list[CorruptChunk]:
    """Every chunk of the MCAP file ``path`` that fails its CRC, and a record that overruns the
    file (its chunk spans everything after it). The file is memory-mapped, not read whole."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return []
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _scan(data, str(path))


def _scan(data, path: str) -> list[CorruptChunk]:
    """The corrupt chunks of MCAP bytes ``data`` (bytes or an mmap)."""
    found: list[CorruptChunk] = []
    position, last_end = len(MCAP_MAGIC), 0
    while position + 9 <= len(data):
        opcode, length = struct.unpack_from("<BQ", data, position)
        body = position + 9
        if body + length > len(data):
            found.append(CorruptChunk(path, position, last_end, 2**64 - 1,
                                      f"a record of {length} bytes overruns the file"))
            break
        if opcode == _CHUNK:
            try:
                start, end, problem = _chunk_problem(data, body)
            except struct.error:
                start, end, problem = last_end, 2**64 - 1, "the chunk header is truncated"
            if problem is not None:
                found.append(CorruptChunk(path, position, start, end, problem))
            last_end = max(last_end, end)
        if opcode == _FOOTER:
            break
        position = body + length
    return found


def corrupt_chunks(bag: str | Path) -> list[CorruptChunk]:
    """The corrupt chunks of the MCAP files of the bag directory ``bag`` (none for sqlite3)."""
    return [chunk for path in sorted(Path(bag).glob("*.mcap")) for chunk in mcap_corrupt_chunks(path)]


def describe(chunks: list[CorruptChunk], skipped: int) -> str:
    """One warning line for the corrupt chunks of a bag and the ``skipped`` messages logged in
    their time ranges."""
    where = "; ".join(f"{Path(c.file).name} byte {c.offset}: {c.reason}" for c in chunks)
    return (f"{len(chunks)} corrupt MCAP chunk(s) ({where}); skipped the {skipped} messages "
            "logged in their time ranges")


class IntactMessages:
    """The messages of ``connections`` in ``reader``'s bag outside its corrupt MCAP chunks
    (read around them, ``io.read_messages``), as (connection, timestamp ns, raw bytes); once
    iterated, ``warning`` says which chunks were skipped with how many messages (None for an
    intact bag). The one way the bag tools read a bag that may be damaged."""

    def __init__(self, reader: Reader, connections: Iterable[Connection]) -> None:
        self.reader, self.connections = reader, list(connections)
        self.corrupt = corrupt_chunks(reader.path)
        self.read = 0

    def __iter__(self) -> Iterator[tuple[Connection, int, bytes]]:
        for item in read_messages(self.reader, self.connections,
                                  skip=[c.time_range for c in self.corrupt]):
            self.read += 1
            yield item

    @property
    def warning(self) -> str | None:
        if not self.corrupt:
            return None
        return describe(self.corrupt, sum(c.msgcount for c in self.connections) - self.read)
