"""``botwatch start|stop|restart``: act on bots, recorded with who and why.

A bot with ``run:`` belongs to the running ``botwatch run``: the request goes to it
through the store and this command waits for its answer. A bot with
``process: {systemd|pm2|docker|commands}`` is acted on directly through that tool.

Several bots at once: name them, or ``--all``, ``--label KEY=VALUE`` (a group), and
for ``stop`` also ``--errored`` (every bot with a critical alert firing).
``restart --rolling`` restarts them one at a time and waits for each to pass its
health checks before the next; the first that does not stops the roll.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from botwatch.actions import controller_for
from botwatch.actions.verify import Verdict, verify_healthy
from botwatch.alerts import Alert, AlertState
from botwatch.cli._app import app
from botwatch.cli._common import (
    DEFAULT_PATH,
    ConfigOption,
    console,
    err_console,
    fail,
    load,
    open_store,
)
from botwatch.config import LoadedConfig
from botwatch.errors import ActionError, BotwatchError
from botwatch.probes import ProbeContext
from botwatch.series import Event
from botwatch.store import Store

Bots = Annotated[list[str] | None, typer.Argument(help="Bots (or use --all / --label).")]
Why = Annotated[str, typer.Option("--why", "-m", help="Why (recorded with the action).")]
Wait = Annotated[float, typer.Option("--wait", help="Seconds to wait for the monitor.")]
All = Annotated[bool, typer.Option("--all", help="Every bot botwatch can act on.")]
Label = Annotated[
    list[str] | None, typer.Option("--label", help="Bots whose labels have KEY=VALUE.")
]


def _pick(loaded: LoadedConfig, bots: list[str] | None, all_: bool, labels: list[str] | None,
          store: Store | None = None, errored: bool = False) -> list[str]:  # fmt: skip
    """The bots a command names, in config order; exits on an unknown one."""
    cfg = loaded.config
    for bot in bots or []:
        if bot not in cfg.bots:
            fail(f"no bot {bot!r} in the config (bots: {', '.join(cfg.bots) or 'none'})")
    if not (bots or all_ or labels or errored):
        fail("name the bots, or use --all or --label KEY=VALUE")
    wanted = [b for b in cfg.bots if all_ or b in (bots or [])]
    for item in labels or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--label {item!r}: use KEY=VALUE, e.g. --label team=payments")
        wanted += [b for b, spec in cfg.bots.items() if spec.labels.get(key) == value]
    if errored:
        assert store is not None
        wanted += sorted(_errored(store))
    return list(dict.fromkeys(wanted))  # each once, in the order first named


def _errored(store: Store) -> set[str]:
    """Bots with a critical alert firing."""
    try:
        rows = store.alerts()
    except BotwatchError as e:
        fail(str(e))
    found = [Alert.from_dict(r.data) for r in rows]
    return {
        a.labels["bot"]
        for a in found
        if a.state is AlertState.FIRING and a.labels.get("severity") == "critical"
        and "bot" in a.labels
    }  # fmt: skip


def _act(loaded: LoadedConfig, store: Store, bot: str, action: str, why: str,
         wait: float) -> tuple[int, str]:  # fmt: skip
    """Do ``action`` to ``bot``: (0 done / 1 failed / 2 not possible, what happened)."""
    spec = loaded.config.bots[bot]
    who = getpass.getuser()
    reason = why or f"{action} from the command line"
    if spec.run is not None:
        return _ask_monitor(store, bot, action, who, reason, wait)
    controller = controller_for(bot, spec)
    if controller is None:
        return 2, (f"botwatch has no way to {action} it; give it run: (botwatch "
                       "manages it) or process: systemd, pm2, docker or commands")  # fmt: skip
    try:
        out = asyncio.run(getattr(controller, action)())
    except ActionError as e:
        _record(store, _event(bot, action, who, reason, error=str(e)))
        return 1, str(e)
    _record(store, _event(bot, action, who, reason, via=controller.kind))
    return 0, f"{action} via {controller.kind}" + (f": {out.strip()}" if out.strip() else "")


def _record(store: Store, event: Event) -> None:
    store.write_now(events=[event])
    # An action taken by hand belongs on the bot's open incident; the event is recorded
    # either way, so a store hiccup here costs only the timeline line.
    with contextlib.suppress(BotwatchError):
        store.incidents.note(event.bot, "action", event.message, event.ts, dict(event.data))


def _ask_monitor(store: Store, bot: str, action: str, who: str, why: str,
                 wait: float) -> tuple[int, str]:  # fmt: skip
    request = store.control.ask(bot, action, who, why, time.time())
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        got = store.control.get(request)
        if got is not None and got.status in ("done", "failed"):
            return (0 if got.status == "done" else 1), got.result or action
        time.sleep(0.1)
    if store.control.cancel(request, "nobody carried it out in time", time.time()):
        return 1, (f"it is managed by `botwatch run` (run:), and no running monitor took "
                       f"the request within {wait:g}s; is `botwatch run` running with this "
                       "config?")  # fmt: skip
    return 1, "the monitor took the request but has not finished it yet"


def _event(bot: str, action: str, who: str, why: str, **data: object) -> Event:
    return Event("action", time.time(), bot, f"{action} {bot} by {who}: {why}",
                 {"action": action, "by": who, "why": why, **data})  # fmt: skip


def _each(action: str, names: list[str], why: str, wait: float, config: Path,
          *, rolling: bool = False, gate: float = 60.0, errored: bool = False,
          all_: bool = False, labels: list[str] | None = None) -> None:  # fmt: skip
    loaded = load(config)
    with open_store(loaded) as store:
        bots = _pick(loaded, names, all_, labels, store, errored)
        if not bots:
            console.print("nothing to do: no bot matches" + (" (none errored)" if errored else ""))
            return
        worst = 0
        for i, bot in enumerate(bots):
            code, what = _act(loaded, store, bot, action, why, wait)
            if code:
                err_console.print(f"[bold red]error:[/] {escape(bot)}: {escape(what)}",
                                  soft_wrap=True)  # fmt: skip
                worst = max(worst, code)
                if rolling:
                    _stop_roll(bots[i + 1 :], code)
                continue
            console.print(f"[green]✓[/] {escape(bot)}: {escape(what)}")
            if rolling:
                verdict = asyncio.run(_gate(loaded, bot, gate))
                colour = "green" if verdict.healthy else "red"
                console.print(f"  [{colour}]{'✓' if verdict.healthy else '✗'}[/] health: "
                              f"{escape(verdict.reason)}")  # fmt: skip
                if not verdict.healthy:
                    _stop_roll(bots[i + 1 :], 1)
        if worst:
            raise typer.Exit(worst)


async def _gate(loaded: LoadedConfig, bot: str, timeout: float) -> Verdict:
    ctx = ProbeContext()
    try:
        return await verify_healthy(loaded, bot, ctx, timeout=timeout)
    finally:
        await ctx.close()


def _stop_roll(rest: list[str], code: int) -> NoReturn:
    if rest:
        err_console.print(f"[red]stopped the rolling restart;[/] not restarted: "
                          f"{escape(', '.join(rest))}")  # fmt: skip
    raise typer.Exit(code)


@app.command()
def start(
    bots: Bots = None, all_: All = False, label: Label = None, why: Why = "",
    wait: Wait = 30.0, config: ConfigOption = DEFAULT_PATH,
) -> None:  # fmt: skip
    """Start bots (through botwatch run for run: bots, else their process tool)."""
    _each("start", bots or [], why, wait, config, all_=all_, labels=label)


@app.command()
def stop(
    bots: Bots = None, all_: All = False, label: Label = None,
    errored: Annotated[
        bool, typer.Option("--errored", help="Every bot with a critical alert firing.")
    ] = False,
    why: Why = "", wait: Wait = 30.0, config: ConfigOption = DEFAULT_PATH,
) -> None:  # fmt: skip
    """Stop bots (a run: bot stays stopped until started again)."""
    _each("stop", bots or [], why, wait, config, all_=all_, labels=label, errored=errored)


@app.command()
def restart(
    bots: Bots = None, all_: All = False, label: Label = None,
    rolling: Annotated[
        bool, typer.Option("--rolling", help="One at a time, each healthy before the next.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="With --rolling: seconds each bot has to pass.")
    ] = 60.0,
    why: Why = "", wait: Wait = 30.0, config: ConfigOption = DEFAULT_PATH,
) -> None:  # fmt: skip
    """Restart bots (``--rolling``: one at a time behind a health gate)."""
    _each("restart", bots or [], why, wait, config, rolling=rolling, gate=timeout, all_=all_,
          labels=label)  # fmt: skip
