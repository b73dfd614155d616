"""``botwatch init`` and ``botwatch config check|show``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
import yaml

from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, fail, load
from botwatch.config import redacted

config_app = typer.Typer(help="Validate and show the config.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = DEFAULT_PATH,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented botwatch.yml to start from."""
    if path.exists() and not force:
        fail(f"{path} already exists; use --force to overwrite it")
    text = resources.files("botwatch.config").joinpath("example.yml").read_text(encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {path}; edit it, then run `botwatch config check -c {path}`")


@config_app.command("check")
def config_check(config: ConfigOption = DEFAULT_PATH) -> None:
    """Validate the config; errors name the file, line and key."""
    loaded = load(config)
    bots = loaded.config.bots
    console.print(
        f"[green]✓[/] {config} is valid: {len(bots)} bot(s)"
        + (f" ({', '.join(bots)})" if bots else "")
    )


@config_app.command("show")
def config_show(config: ConfigOption = DEFAULT_PATH) -> None:
    """Print the config with defaults filled in and secrets redacted."""
    loaded = load(config)
    console.print(yaml.safe_dump(redacted(loaded.config), sort_keys=False), markup=False)
