"""``botwatch rules check|test FILE...``: validate and unit-test rule files, as promtool does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, load, print_issues
from botwatch.errors import ConfigError
from botwatch.rules.files import config_rules, load_rule_file
from botwatch.rules.testing import load_test_file, run_test_file

rules_app = typer.Typer(help="Validate and test alerting rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def rules_check(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Rule files (default: the config's rules).")
    ] = None,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Validate rule files: expressions, durations, labels, templates. Exit 1 on errors.

    Without files, checks what ``botwatch run`` would load: the built-in pack with the
    config's overrides and every file its ``rules:`` globs match.
    """
    if not files:
        loaded = load(config)
        try:
            rules = config_rules(loaded)
        except ConfigError as e:
            print_issues(f"[bold red]✗[/] {config}: {len(e.issues)} problem(s)", e.issues)
            raise typer.Exit(1) from None
        own = sum(1 for r in rules if r.file != "(built-in)")
        console.print(f"[green]✓[/] {config}: {len(rules) - own} built-in and {own} own rule(s)")
        return
    bad = 0
    for path in files:
        try:
            rules = load_rule_file(path)
        except ConfigError as e:
            bad += 1
            print_issues(f"[bold red]✗[/] {path}: {len(e.issues)} problem(s)", e.issues)
            continue
        groups = len({r.group for r in rules})
        console.print(f"[green]✓[/] {path}: {len(rules)} rule(s) in {groups} group(s)")
    if bad:
        raise typer.Exit(1)


@rules_app.command("test")
def rules_test(
    files: Annotated[list[Path], typer.Argument(help="Rule test files (promtool's format).")],
) -> None:
    """Run rule unit tests: input series → expected alerts at given times. Exit 1 on failure."""
    failed = 0
    for path in files:
        try:
            spec, rules = load_test_file(path)
        except ConfigError as e:
            failed += 1
            print_issues(f"[bold red]✗[/] {path}: cannot run", e.issues)
            continue
        failures = run_test_file(spec, rules)
        if failures:
            failed += 1
            print_issues(f"[bold red]✗[/] {path}: {len(failures)} failure(s)", failures)
        else:
            console.print(f"[green]✓[/] {path}: {len(spec.tests)} test(s) passed")
    if failed:
        raise typer.Exit(1)
