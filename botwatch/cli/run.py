"""``botwatch run``: the monitor, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer
from rich.logging import RichHandler

from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, err_console, fail, load
from botwatch.errors import BotwatchError


def setup_logging(level: str) -> None:
    """Log to stderr: through Rich on a terminal, one plain line per record otherwise."""
    handler: logging.Handler
    if err_console.is_terminal:
        handler = RichHandler(console=err_console, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%Y-%m-%d %H:%M:%S]"))
    else:
        # Files and journald want whole lines, not a table wrapped at 80 columns.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Library chatter stays at WARNING; botwatch's own loggers follow --log-level.
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
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
    from botwatch.monitor.runtime import tune_gc

    tune_gc()  # this process is the monitor from here on
    try:
        asyncio.run(run_monitor(loaded))
    except BotwatchError as e:
        fail(str(e))
    except KeyboardInterrupt:
        pass
