"""What every CLI command shares: the ``-c/--config`` option, loading, error display."""

from __future__ import annotations

__all__ = ["ConfigOption", "console", "err_console", "fail", "load"]

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from botwatch.config import DEFAULT_CONFIG, LoadedConfig, load_config
from botwatch.errors import BotwatchError, ConfigError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="Config file.", envvar="BOTWATCH_CONFIG", show_default=True
    ),
]
DEFAULT_PATH = Path(DEFAULT_CONFIG)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def load(path: Path) -> LoadedConfig:
    """Load the config or exit with every problem listed (file:line: key: message)."""
    try:
        return load_config(path)
    except ConfigError as e:
        err_console.print(f"[bold red]error:[/] {path} is not valid:", markup=True)
        for issue in e.issues:
            err_console.print(f"  {issue}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except BotwatchError as e:
        fail(str(e))
