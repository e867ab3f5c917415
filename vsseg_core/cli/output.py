"""What several subcommands print or write besides their own tables."""

from __future__ import annotations

import json
from pathlib import Path

from vsseg_core.staging import write_text_atomic


def write_json(path: Path | None, record: dict) -> None:
    """Write ``record`` as indented JSON to ``path`` (atomically) and say so; nothing for None."""
    if path is not None:
        write_text_atomic(path, json.dumps(record, indent=2) + "\n")
        print(f"wrote {path}")
