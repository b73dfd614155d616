"""``botwatch start|stop|restart BOT``: act on a bot, recorded with who and why.

A bot with ``run:`` belongs to the running ``botwatch run``: the request goes to it
through the store and this command waits for its answer. A bot with
``process: {systemd|pm2|docker|commands}`` is acted on directly through that tool.
"""

from __future__ import annotations

import asyncio
import getpass
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from botwatch.actions import controller_for
from botwatch.cli import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, fail, load, open_store
from botwatch.errors import ActionError
from botwatch.series import Event
from botwatch.store import Store

Why = Annotated[str, typer.Option("--why", "-m", help="Why (recorded with the action).")]
Wait = Annotated[float, typer.Option("--wait", help="Seconds to wait for the monitor.")]


def _act(bot: str, action: str, why: str, wait: float, config: Path) -> None:
    loaded = load(config)
    spec = loaded.config.bots.get(bot)
    if spec is None:
        fail(f"no bot {bot!r} in {config} (bots: {', '.join(loaded.config.bots) or 'none'})")
    who = getpass.getuser()
    reason = why or f"{action} from the command line"
    with open_store(loaded) as store:
        if spec.run is not None:
            _ask_monitor(store, bot, action, who, reason, wait)
            return
        controller = controller_for(bot, spec)
        if controller is None:
            fail(f"{bot}: botwatch has no way to {action} it; give it run: (botwatch manages "
                 "it) or process: systemd, pm2, docker or commands")  # fmt: skip
        try:
            out = asyncio.run(getattr(controller, action)())
        except ActionError as e:
            store.write_now(events=[_event(bot, action, who, reason, error=str(e))])
            fail(str(e), code=1)
        store.write_now(events=[_event(bot, action, who, reason, via=controller.kind)])
    console.print(f"[green]✓[/] {action} {escape(bot)} via {controller.kind}" +
                  (f": {escape(out.strip())}" if out.strip() else ""))  # fmt: skip


def _ask_monitor(store: Store, bot: str, action: str, who: str, why: str, wait: float) -> None:
    request = store.control.ask(bot, action, who, why, time.time())
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        got = store.control.get(request)
        if got is not None and got.status in ("done", "failed"):
            if got.status == "failed":
                fail(f"{bot}: {got.result}", code=1)
            console.print(f"[green]✓[/] {escape(bot)}: {escape(got.result or action)}")
            return
        time.sleep(0.1)
    if store.control.cancel(request, "nobody carried it out in time", time.time()):
        fail(f"{bot} is managed by `botwatch run` (run:), and no running monitor took the "
             f"request within {wait:g}s; is `botwatch run` running with this config?", code=1)  # fmt: skip
    fail(f"{bot}: the monitor took the request but has not finished it yet", code=1)


def _event(bot: str, action: str, who: str, why: str, **data: object) -> Event:
    return Event("action", time.time(), bot, f"{action} {bot} by {who}: {why}",
                 {"action": action, "by": who, "why": why, **data})  # fmt: skip


@app.command()
def start(bot: str, why: Why = "", wait: Wait = 30.0, config: ConfigOption = DEFAULT_PATH) -> None:
    """Start a bot (through botwatch run for run: bots, else its process tool)."""
    _act(bot, "start", why, wait, config)


@app.command()
def stop(bot: str, why: Why = "", wait: Wait = 30.0, config: ConfigOption = DEFAULT_PATH) -> None:
    """Stop a bot (a run: bot stays stopped until started again)."""
    _act(bot, "stop", why, wait, config)


@app.command()
def restart(
    bot: str, why: Why = "", wait: Wait = 30.0, config: ConfigOption = DEFAULT_PATH
) -> None:
    """Restart a bot."""
    _act(bot, "restart", why, wait, config)
