"""``botwatch incidents list|show|ack|resolve``: critical trouble per bot, with its
timeline and how fast it was detected, acknowledged and resolved."""

from __future__ import annotations

import dataclasses
import getpass
import json
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, fail, load, open_store
from botwatch.config.units import format_duration, parse_duration
from botwatch.errors import BotwatchError
from botwatch.store import Store
from botwatch.store.incidents import Incident

incidents_app = typer.Typer(
    help="Incidents: list, show a timeline, acknowledge, resolve.", no_args_is_help=True
)
app.add_typer(incidents_app, name="incidents")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
_COLOUR = {"open": "red", "acknowledged": "yellow", "resolved": "green"}


def _open(config: Path) -> Store:
    return open_store(load(config))


def _dur(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(seconds)


def _when(ts: float | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _as_dict(inc: Incident) -> dict[str, Any]:
    return dataclasses.asdict(inc) | {"mttd": inc.mttd, "mtta": inc.mtta, "mttr": inc.mttr}


def _mean(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.fmean(got) if got else None


@incidents_app.command("list")
def incidents_list(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Resolved ones too.")] = False,
    since: Annotated[
        str, typer.Option("--since", help="With --all: opened within this long, e.g. 7d.")
    ] = "30d",
    bot: Annotated[str | None, typer.Option("--bot", help="Only this bot's.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """List open incidents (``--all``: recent resolved ones too) with MTTD/MTTA/MTTR."""
    try:
        window = parse_duration(since)
    except ValueError as e:
        fail(f"--since: {e}")
    with _open(config) as store:
        try:
            found = store.incidents.find(
                status=() if all_ else ("open", "acknowledged"),
                bot=bot,
                since=time.time() - window if all_ else None,
                limit=1000,
            )
        except BotwatchError as e:
            fail(str(e))
    summary = {
        "incidents": len(found),
        "mttd": _mean([i.mttd for i in found]),
        "mtta": _mean([i.mtta for i in found]),
        "mttr": _mean([i.mttr for i in found]),
    }
    if as_json:
        print(json.dumps({"incidents": [_as_dict(i) for i in found], "summary": summary}))
        return
    if not found:
        console.print("[green]✓[/] no open incidents" if not all_ else "no incidents")
        return
    now = time.time()
    table = Table(show_edge=False, pad_edge=False)
    for col in ("id", "status", "prio", "bot", "opened", "age", "MTTD", "MTTA", "MTTR", "title"):
        table.add_column(col)
    for i in found:
        end = i.resolved_at if i.resolved_at is not None else now
        table.add_row(
            f"#{i.id}", f"[{_COLOUR.get(i.status, 'white')}]{i.status}[/]", i.priority,
            escape(i.bot), _when(i.opened_at), format_duration(max(0.0, end - i.started_at)),
            _dur(i.mttd), _dur(i.mtta), _dur(i.mttr), escape(i.title),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"[dim]{len(found)} incident(s); mean MTTD {_dur(summary['mttd'])}, "
        f"MTTA {_dur(summary['mtta'])}, MTTR {_dur(summary['mttr'])}[/]"
    )


@incidents_app.command("show")
def incidents_show(
    incident: Annotated[int, typer.Argument(help="The incident's number.")],
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """An incident: its alerts and its timeline."""
    with _open(config) as store:
        try:
            inc = store.incidents.get(incident)
            if inc is None:
                fail(f"no incident #{incident}")
            alerts = store.incidents.alerts(incident)
            timeline = store.incidents.timeline(incident)
        except BotwatchError as e:
            fail(str(e))
    if as_json:
        print(json.dumps({
            "incident": _as_dict(inc),
            "alerts": [dataclasses.asdict(a) for a in alerts],
            "timeline": [dataclasses.asdict(line) for line in timeline],
        }))  # fmt: skip
        return
    colour = _COLOUR.get(inc.status, "white")
    console.print(f"[bold]#{inc.id}[/] [{colour}]{inc.status}[/] {inc.priority} "
                  f"[bold]{escape(inc.bot)}[/]: {escape(inc.title)}")  # fmt: skip
    console.print(f"  MTTD {_dur(inc.mttd)} · MTTA {_dur(inc.mtta)} · MTTR {_dur(inc.mttr)}")
    if inc.acked_by:
        console.print(f"  acknowledged by {escape(inc.acked_by)} at {_when(inc.acked_at)}")
    if inc.resolved_by:
        console.print(f"  resolved by {escape(inc.resolved_by)} at {_when(inc.resolved_at)}")
    console.print("\n[bold]Alerts[/]")
    for a in alerts:
        state = "[green]resolved[/]" if a.resolved_at is not None else "[red]firing[/]"
        console.print(f"  {state} {escape(a.rule)} since {_when(a.fired_at)}"
                      + (f" — {escape(a.annotations['summary'])}" if "summary" in a.annotations
                         else ""))  # fmt: skip
    console.print("\n[bold]Timeline[/]")
    for line in timeline:
        console.print(
            f"  {_when(line.at)}  [cyan]{line.kind:<14}[/] {escape(line.text)}", soft_wrap=True
        )


def _change(incident: int, what: str, comment: str, by: str | None, config: Path) -> None:
    who = by or getpass.getuser()
    with _open(config) as store:
        try:
            fn = store.incidents.ack if what == "ack" else store.incidents.resolve
            inc = fn(incident, who, comment, time.time())
        except BotwatchError as e:
            fail(str(e), code=1)
    verb = "acknowledged" if what == "ack" else "resolved"
    console.print(f"[green]✓[/] #{inc.id} {escape(inc.bot)} {verb} by {escape(who)}")


Comment = Annotated[str, typer.Option("--comment", "-m", help="A note for the timeline.")]
By = Annotated[str | None, typer.Option("--by", help="Who (default: the user).")]


@incidents_app.command("ack")
def incidents_ack(
    incident: Annotated[int, typer.Argument(help="The incident's number.")],
    comment: Comment = "",
    by: By = None,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Acknowledge: escalation stops and receivers that can be told (PagerDuty, chat)
    are told."""
    _change(incident, "ack", comment, by, config)


@incidents_app.command("resolve")
def incidents_resolve(
    incident: Annotated[int, typer.Argument(help="The incident's number.")],
    comment: Comment = "",
    by: By = None,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Resolve by hand (if its alerts fire again later, a new incident opens)."""
    _change(incident, "resolve", comment, by, config)
