"""``botwatch silence add|list|expire``: hold back notifications for matching alerts."""

from __future__ import annotations

import getpass
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from botwatch.alerts.silences import new_silence
from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, fail, load, open_store
from botwatch.config.units import format_duration, parse_duration
from botwatch.errors import BotwatchError
from botwatch.store import SilenceRow, Store

silence_app = typer.Typer(help="Silence notifications for matching alerts.", no_args_is_help=True)
app.add_typer(silence_app, name="silence")


def _open(config: Path) -> Store:
    return open_store(load(config))


@silence_app.command("add")
def silence_add(
    matchers: Annotated[
        list[str], typer.Argument(help='Matchers, e.g. bot="alpha" alertname=~"High.*".')
    ],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why (required).")] = "",
    duration: Annotated[str, typer.Option("--duration", "-d", help="How long, e.g. 2h.")] = "1h",
    start: Annotated[
        str | None, typer.Option("--start", help="ISO time to start (default now).")
    ] = None,
    author: Annotated[str | None, typer.Option("--author", help="Who (default: the user).")] = None,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Add a silence; prints its id."""
    now = time.time()
    try:
        starts = datetime.fromisoformat(start).timestamp() if start else now
        length = parse_duration(duration)
        silence = new_silence(
            matchers,
            starts_at=starts,
            ends_at=starts + length,
            created_by=author or getpass.getuser(),
            comment=comment,
            now=now,
        )
    except ValueError as e:
        fail(str(e))
    with _open(config) as store:
        try:
            store.add_silence(silence)
        except BotwatchError as e:
            fail(str(e))
    console.print(silence.id)


@silence_app.command("list")
def silence_list(
    show_all: Annotated[bool, typer.Option("--all", help="Include expired silences.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """List active and pending silences (with --all, expired ones too)."""
    now = time.time()
    with _open(config) as store:
        rows = store.silences(None if show_all else now)
    if as_json:
        console.print_json(json.dumps([_as_dict(r, now) for r in rows]))
        return
    if not rows:
        console.print("no silences")
        return
    table = Table(show_edge=False, pad_edge=False)
    for col in ("id", "state", "matchers", "ends", "by", "comment"):
        table.add_column(col)
    for r in rows:
        ends = f"in {format_duration(r.ends_at - now)}" if r.ends_at > now else "ended"
        table.add_row(
            r.id[:8], _state(r, now), escape(", ".join(r.matchers)), ends, escape(r.created_by),
            escape(r.comment),
        )  # fmt: skip
    console.print(table)


@silence_app.command("expire")
def silence_expire(
    silence_id: Annotated[str, typer.Argument(help="The silence's id (or a unique prefix).")],
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """End a silence now."""
    now = time.time()
    with _open(config) as store:
        found = [r for r in store.silences(now) if r.id.startswith(silence_id)]
        if len(found) != 1:
            fail(
                f"no active or pending silence {silence_id!r}"
                if not found
                else f"{silence_id!r} matches {len(found)} silences; give more of the id"
            )
        store.expire_silence(found[0].id, now)
    console.print(f"expired {found[0].id}")


def _state(r: SilenceRow, now: float) -> str:
    if r.active(now):
        return "active"
    return "pending" if r.starts_at > now else "expired"


def _as_dict(r: SilenceRow, now: float) -> dict[str, object]:
    return {
        "id": r.id, "state": _state(r, now), "matchers": r.matchers, "starts_at": r.starts_at,
        "ends_at": r.ends_at, "created_by": r.created_by, "comment": r.comment,
    }  # fmt: skip
