"""Real child processes for the sampler tests, always killed and reaped afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from botwatch.config import Config, LoadedConfig


class Children:
    """Spawns ``python -c`` children, each in its own process group.

    The group is what gets killed at the end, so grandchildren a child started go too.
    Every child prints ``ready`` once its setup code has run; ``spawn`` waits for it.
    """

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    @staticmethod
    def marker() -> str:
        """A word no other process on the machine has in its command line."""
        return f"botwatch-test-{uuid.uuid4().hex[:12]}"

    @staticmethod
    def code(body: str = "", marker: str = "") -> str:
        """The program a child runs: ``body``, then ``ready``, then sleep."""
        return (
            f"# {marker}\nimport sys, time\n{body}\nprint('ready', flush=True)\ntime.sleep(600)\n"
        )

    def spawn(
        self, body: str = "", *, marker: str = "", cwd: Path | None = None, code: str | None = None
    ) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-c", code if code is not None else self.code(body, marker)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=cwd,
            start_new_session=True,
        )
        self.procs.append(p)
        assert p.stdout is not None
        if code is None:
            assert p.stdout.readline().strip() == "ready"
        return p

    def dead_pid(self) -> int:
        """The pid of a process that ran and was reaped."""
        p = subprocess.Popen([sys.executable, "-c", "pass"])
        p.wait()
        return p.pid

    def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            if p.stdout is not None:
                p.stdout.close()


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    try:
        yield kids
    finally:
        kids.close()


def loaded_config(tmp_path: Path, bots: dict[str, object]) -> LoadedConfig:
    """A config as if loaded from ``tmp_path/botwatch.yml``."""
    return LoadedConfig(Config.model_validate({"bots": bots}), tmp_path / "botwatch.yml", tmp_path)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[[dict[str, object]], LoadedConfig]:
    """Builds a config whose relative paths resolve against ``tmp_path``."""

    def make(bots: dict[str, object]) -> LoadedConfig:
        return loaded_config(tmp_path, bots)

    return make
