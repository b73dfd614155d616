"""The ``botwatch`` command line. Each command lives in its own module and registers on
``app`` when imported.

``main()`` imports only the module of the command it runs, so the long-running
``botwatch run`` does not hold every other command's code and libraries in memory;
``botwatch --help`` (or an unknown command) loads them all. ``botwatch.cli.app`` is the
whole application, every command loaded.
"""

from __future__ import annotations

__all__ = ["MODULES", "app", "load_commands", "main"]

import importlib
import sys
from typing import Any

from botwatch.cli._app import app as _app

MODULES = {
    "start": "action_cmd", "stop": "action_cmd", "restart": "action_cmd",
    "alerts": "alerts_cmd", "channels": "channels_cmd", "check": "check",
    "init": "config_cmd", "config": "config_cmd", "demo": "demo",
    "incidents": "incidents_cmd", "logs": "logs_cmd", "rules": "rules_cmd", "run": "run", "sample": "sample",
    "silence": "silence_cmd",
}  # fmt: skip
"""Command → the module that defines it."""


def load_commands(command: str | None = None) -> None:
    """Import the module of ``command`` (None or unknown: every command module)."""
    module = MODULES.get(command or "")
    names = [module] if module is not None else sorted(set(MODULES.values()))
    for name in names:
        importlib.import_module(f"botwatch.cli.{name}")


def _command(argv: list[str]) -> str | None:
    """The command named on the command line (the first argument not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def __getattr__(name: str) -> Any:
    if name == "app":
        load_commands()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point."""
    load_commands(_command(sys.argv[1:]))
    _app()
