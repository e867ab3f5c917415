"""Opening bags for reading and writing with errors that name the bag and what to do, and a
writer that stays readable when interrupted."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError

from vsseg_core.errors import VssegError

STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
BAG_VERSION = 9


class BagError(VssegError, ValueError):
    """A bag that cannot be read or written as asked; the message names it and the fix."""


@contextmanager
def open_reader(path: str | Path) -> Iterator[Reader]:
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist; pass a rosbag2 directory (with metadata.yaml)")
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, OSError, ValueError, KeyError) as exc:
        raise BagError(f"bag {path} cannot be read ({exc}); it is not a rosbag2 bag or it is "
                       "corrupt (e.g. a truncated .db3 or .mcap)") from exc
    try:
        yield reader
    finally:
        reader.close()


def check_new_bag(path: str | Path) -> None:
    """BagError unless ``path`` is free for a new bag (check before any long work)."""
    if Path(path).exists():
        raise BagError(f"output bag {path} exists; choose another path or delete it")


@contextmanager
def open_writer(path: str | Path, storage: str = "sqlite3", *,
                keep_partial: bool = True) -> Iterator[Writer]:
    """A rosbag2 writer that is closed (index and metadata written) whatever happens inside,
    Ctrl-C included, so everything written so far stays readable. With ``keep_partial`` False
    (a conversion that is simply run again) an error or Ctrl-C removes the bag instead."""
    path = Path(path)
    if storage not in STORAGES:
        raise BagError(f"storage {storage!r} is not one of {', '.join(STORAGES)}")
    check_new_bag(path)
    try:
        writer = Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        writer.open()
    except (WriterError, OSError) as exc:
        raise BagError(f"cannot create bag {path} ({exc}); choose a writable path") from exc
    try:
        yield writer
    except BaseException:
        writer.close()
        if not keep_partial:
            shutil.rmtree(path, ignore_errors=True)
        raise
    writer.close()


def topics(reader: Reader) -> dict[str, str]:
    """{topic: message type} of a bag."""
    return {c.topic: c.msgtype for c in reader.connections}


def require_topic(reader: Reader, topic: str, msgtype: str, *, fix: str = "") -> None:
    """BagError unless ``reader`` has ``topic`` of ``msgtype``; ``fix`` (what to do when the
    topic is missing) ends the message."""
    available = topics(reader)
    if topic not in available:
        listing = ", ".join(f"{t} ({m})" for t, m in sorted(available.items())) or "none"
        raise BagError(f"bag {reader.path} has no topic {topic}; its topics: {listing}"
                       + (f"; {fix}" if fix else ""))
    if available[topic] != msgtype:
        raise BagError(f"bag {reader.path}: topic {topic} is {available[topic]}, not {msgtype}")


def read_messages(reader: Reader, connections: Iterable[Connection], *,
                  skip: Sequence[tuple[int, int]] = ()) -> Iterator[tuple[Connection, int, bytes]]:
    """``reader.messages(connections)``, without the messages logged within the ``skip``
    ranges ((first, last) ns, inclusive; e.g. corrupt chunks), and with the storage layer's
    errors (a corrupt sqlite3 page, an unreadable MCAP record) turned into one BagError that
    says how far it got."""
    connections, count = list(connections), 0
    for start, stop in _between(skip):
        messages = reader.messages(connections, start=start, stop=stop)
        while True:
            try:
                item = next(messages)
            except StopIteration:
                break
            except Exception as exc:  # apsw/sqlite3 and mcap parsing raise their own types
                raise BagError(f"bag {reader.path} is corrupt: reading failed after {count} "
                               f"messages ({type(exc).__name__}: {exc}); restore it from a "
                               "copy, or re-record it") from exc
            count += 1
            yield item


def _between(skip: Sequence[tuple[int, int]]) -> Iterator[tuple[int | None, int | None]]:
    """The (start, stop) ranges of rosbags' ``messages`` (start inclusive, stop exclusive;
    None = open) that cover everything but ``skip``."""
    start: int | None = None
    for first, last in sorted(skip):
        if start is None or first > start:
            yield start, first
        start = max(start or 0, last + 1)
    yield start, None
