"""``botwatch rules check FILE...``: validate rule files like ``promtool check rules``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from botwatch.cli import app
from botwatch.cli._common import console, err_console
from botwatch.errors import ConfigError
from botwatch.rules.files import load_rule_file

rules_app = typer.Typer(help="Validate and test alerting rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def rules_check(
    files: Annotated[list[Path], typer.Argument(help="Rule files (Prometheus shape).")],
) -> None:
    """Validate rule files: expressions, durations, labels, templates. Exit 1 on errors."""
    bad = 0
    for path in files:
        try:
            rules = load_rule_file(path)
        except ConfigError as e:
            bad += 1
            err_console.print(f"[bold red]✗[/] {path}: {len(e.issues)} problem(s)", markup=True)
            for issue in e.issues:
                err_console.print(f"  {issue}", markup=False, soft_wrap=True)
            continue
        groups = len({r.group for r in rules})
        console.print(f"[green]✓[/] {path}: {len(rules)} rule(s) in {groups} group(s)")
    if bad:
        raise typer.Exit(1)
