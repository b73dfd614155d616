"""What the CLI tests share: running ``python -m botwatch`` as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]


def run_botwatch(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``botwatch ARGS`` in ``cwd``; wide output, so lines are not wrapped."""
    return subprocess.run(
        [sys.executable, "-m", "botwatch", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )


@pytest.fixture
def botwatch() -> Cli:
    """``botwatch(*args, cwd=..., env=...)``: run the CLI in a child process."""
    return run_botwatch
