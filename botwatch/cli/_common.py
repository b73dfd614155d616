"""What every CLI command shares: the ``-c/--config`` option, loading, error display."""

from __future__ import annotations

__all__ = ["ConfigOption", "console", "err_console", "fail", "load", "open_store", "print_issues"]

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from botwatch.errors import BotwatchError, ConfigError

if TYPE_CHECKING:
    from botwatch.config import LoadedConfig
    from botwatch.store import Store

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="Config file.", envvar="BOTWATCH_CONFIG", show_default=True
    ),
]
DEFAULT_PATH = Path("botwatch.yml")
"""``botwatch.config.DEFAULT_CONFIG`` (not imported here: commands that need no config,
such as ``botwatch logs``, start faster without the schema)."""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    # The message is plain text: a regex or "logs: [path]" in it must print as written.
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def print_issues(headline: str, issues: Iterable[object]) -> None:
    """``headline`` (Rich markup) on stderr, then each problem indented, one per line."""
    err_console.print(headline, markup=True)
    for issue in issues:
        err_console.print(f"  {issue}", markup=False, soft_wrap=True)


def load(path: Path) -> LoadedConfig:
    """Load the config or exit with every problem listed (file:line: key: message)."""
    from botwatch.config import load_config

    try:
        return load_config(path)
    except ConfigError as e:
        print_issues(f"[bold red]error:[/] {path} is not valid:", e.issues)
        raise typer.Exit(2) from None
    except BotwatchError as e:
        fail(str(e))


def open_store(loaded: LoadedConfig) -> Store:
    """The config's store, or exit saying why it cannot be opened."""
    from botwatch.store import Store

    try:
        return Store.open(loaded.storage_url)
    except BotwatchError as e:
        fail(str(e))
