"""``botwatch alerts``: the firing and pending alerts, as the running monitor saved them."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from botwatch.alerts import Alert, AlertState
from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, fail, load, open_store
from botwatch.config.units import format_duration
from botwatch.errors import BotwatchError


def _age(since: float, now: float) -> str:
    return format_duration(max(0.0, now - since))


@app.command()
def alerts(
    config: ConfigOption = DEFAULT_PATH,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    state: Annotated[
        str | None, typer.Option("--state", help="Only firing or only pending alerts.")
    ] = None,
) -> None:
    """List firing and pending alerts (exit 1 when any is firing)."""
    if state not in (None, "firing", "pending"):
        fail(f"--state must be firing or pending, not {state!r}")
    loaded = load(config)
    with open_store(loaded) as store:
        try:
            rows = store.alerts()
        except BotwatchError as e:
            fail(str(e))
    found = [Alert.from_dict(r.data) for r in rows]
    if state is not None:
        found = [a for a in found if a.state.value == state]
    found.sort(
        key=lambda a: (
            a.state is not AlertState.FIRING,
            a.labels.get("severity") != "critical",
            a.active_since,
        )
    )
    firing = any(a.state is AlertState.FIRING for a in found)
    if as_json:
        console.print_json(json.dumps([a.to_dict() for a in found]))
        raise typer.Exit(1 if firing else 0)
    if not found:
        console.print("[green]✓[/] no alerts firing or pending")
        return
    now = time.time()
    table = Table(show_edge=False, pad_edge=False)
    for col in ("state", "alert", "bot", "severity", "since", "summary"):
        table.add_column(col)
    for a in found:
        colour = "red" if a.state is AlertState.FIRING else "yellow"
        since = a.fired_at if a.fired_at is not None else a.active_since
        others = {
            k: v
            for k, v in a.labels.items()
            if k not in ("alertname", "bot", "severity", "priority")
        }
        name = a.rule + (
            "{" + ", ".join(f"{k}={v}" for k, v in sorted(others.items())) + "}" if others else ""
        )
        table.add_row(
            f"[{colour}]{a.state.value}[/]",
            escape(name),
            escape(a.labels.get("bot", "")),
            escape(a.labels.get("severity", "")),
            _age(since, now),
            escape(a.annotations.get("summary", "")),
        )
    console.print(table)
    raise typer.Exit(1 if firing else 0)
