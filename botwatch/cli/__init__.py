"""The ``botwatch`` command line. Each command lives in its own module and registers on ``app``."""

from __future__ import annotations

__all__ = ["app", "main"]

import typer

app = typer.Typer(
    name="botwatch",
    help="Monitor and maintain fleets of chat bots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register themselves on ``app`` when imported.
from botwatch.cli import (  # noqa: E402,F401
    action_cmd,
    alerts_cmd,
    channels_cmd,
    check,
    config_cmd,
    demo,
    incidents_cmd,
    rules_cmd,
    run,
    sample,
    silence_cmd,
)


def main() -> None:
    """Console-script entry point."""
    app()
