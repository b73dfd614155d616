"""``botwatch run``: the monitor, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer
from rich.logging import RichHandler

from botwatch.cli import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, err_console, fail, load
from botwatch.errors import BotwatchError


def setup_logging(level: str) -> None:
    """Log to stderr through Rich; library chatter stays at WARNING."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        datefmt="[%Y-%m-%d %H:%M:%S]",
        handlers=[RichHandler(console=err_console, show_path=False, markup=False)],
        force=True,
    )
    logging.getLogger("botwatch").setLevel(level.upper())


@app.command()
def run(
    config: ConfigOption = DEFAULT_PATH,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """Run the monitor: every probe on schedule and the sampler, results into the store."""
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        fail(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    loaded = load(config)
    setup_logging(log_level)
    from botwatch.monitor import run_monitor

    try:
        asyncio.run(run_monitor(loaded))
    except BotwatchError as e:
        fail(str(e))
    except KeyboardInterrupt:
        pass
