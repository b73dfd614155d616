"""The Typer application every command module registers on (kept apart from
``botwatch.cli`` so that ``botwatch run`` can load its own module and not the rest)."""

from __future__ import annotations

__all__ = ["app"]

import typer

app = typer.Typer(
    name="botwatch",
    help="Monitor and maintain fleets of chat bots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Monitor and maintain fleets of chat bots."""
