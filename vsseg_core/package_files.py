"""Files that ship beside the Python packages (config/, msg/): found in the source tree (pip
editable install, so edits apply) or in the colcon-installed share/vsseg directory."""

from __future__ import annotations

from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent
"""The repository root when running from the sources."""


def package_file(relative: str) -> Path | None:
    """``relative`` (e.g. "config/vsseg.yaml", "msg") under the source tree, else under the
    ament share directory of the "vsseg" package; None where neither has it."""
    source = SOURCE_ROOT / relative
    if source.exists():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory
        installed = Path(get_package_share_directory("vsseg")) / relative
    except (ImportError, LookupError, OSError):  # not installed with colcon / no ament index
        return None
    return installed if installed.exists() else None
