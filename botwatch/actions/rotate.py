"""Rotating a log file someone else is writing: copy, then truncate (logrotate's
``copytruncate``). Renaming would leave the bot writing to the renamed file; copying
then truncating in place works with any writer that appends (O_APPEND), which is
what logging handlers and shell redirections do. Lines written between the copy and
the truncation are lost: the price of not touching the bot."""

from __future__ import annotations

__all__ = ["copytruncate"]

import os
import shutil
from pathlib import Path


def copytruncate(path: Path, keep: int = 3) -> int:
    """Move ``path.N`` to ``path.N+1`` (dropping past ``keep``), copy ``path`` to
    ``path.1`` and truncate it; the bytes rotated out. Blocking."""
    size = path.stat().st_size
    for i in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{i}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{i + 1}"))
    with path.open("rb") as src, path.with_name(f"{path.name}.1").open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.truncate(path, 0)
    return size
