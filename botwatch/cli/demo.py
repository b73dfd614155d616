"""``botwatch demo``: run the demo fleet (optionally monitored), and switch its faults."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import psutil
import typer
from rich.markup import escape
from rich.table import Table

from botwatch.cli._app import app
from botwatch.cli._common import console, err_console, fail, load
from botwatch.demo.faults import ControlFileError, set_fault
from botwatch.demo.fleet import FAKE_NAME, DemoFleet, FleetError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from botwatch.config import LoadedConfig

DEFAULT_DIR = Path("botwatch-demo")

demo_app = typer.Typer(
    help=(
        "Run a demo fleet to try botwatch on: a fake Telegram API and three bots polling it "
        "(cryptomentor, newsdigest, and flakybot with faults), until Ctrl-C. Writes "
        "DIR/botwatch.yml watching them. `botwatch demo fault` switches flakybot's faults."
    ),
    invoke_without_command=True,
)
app.add_typer(demo_app, name="demo")

DirOption = Annotated[
    Path, typer.Option("--dir", "-d", help="Folder of the demo fleet.", show_default=True)
]


class Fault(enum.StrEnum):
    """The faults a demo bot can be given (see botwatch.demo.faults)."""

    leak = "leak"
    errors = "errors"
    crash = "crash"
    slow_db = "slow-db"


class Switch(enum.StrEnum):
    """on or off."""

    on = "on"
    off = "off"


@demo_app.callback()
def demo(
    ctx: typer.Context,
    dir: DirOption = DEFAULT_DIR,
    monitor: Annotated[
        bool, typer.Option("--monitor", help="Also run the monitor on the fleet, in this process.")
    ] = False,
) -> None:
    """Start the demo fleet and keep it running until Ctrl-C.

    Starts a fake Telegram Bot API and three bots polling it (cryptomentor, newsdigest
    and flakybot, the one with faults), and writes DIR/botwatch.yml to watch them.
    """
    if ctx.invoked_subcommand is not None:
        return
    run_monitor = _monitor_entry() if monitor else None
    fleet = DemoFleet(dir)
    # SIGTERM while starting must still stop what was started: turn it into SystemExit,
    # which start() cleans up after like any other failure.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with console.status("Starting the demo fleet…"):
            fleet.start()
    except FleetError as e:
        fail(escape(str(e)), code=1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)

    code = 0
    try:
        _show(fleet, dir, monitored=run_monitor is not None)
        loaded = load(fleet.config_path) if run_monitor is not None else None
        if loaded is not None:
            from botwatch.monitor.runtime import tune_gc

            tune_gc()  # this process is the monitor from here on
        code = asyncio.run(_serve(fleet, run_monitor, loaded))
    finally:
        # A second Ctrl-C must not cut the clean stop short (it is bounded anyway:
        # SIGKILL after the stop timeout).
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with console.status("Stopping the demo fleet…"):
                fleet.stop()
        finally:
            signal.signal(signal.SIGINT, previous_int)
        console.print("demo fleet stopped")
    if code:
        raise typer.Exit(code)


def _exit_on_sigterm(_sig: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)


def _monitor_entry() -> Callable[..., Coroutine[Any, Any, None]]:
    # Imported here: the monitor pulls in the store and web stack, which the plain demo
    # does not need.
    try:
        from botwatch.cli.run import setup_logging
        from botwatch.monitor import run_monitor
    except ImportError as e:
        fail(f"--monitor needs botwatch.monitor.run_monitor, which is not available: {e}")
    # The monitor reports through logging; show it as `botwatch run` does.
    setup_logging("info")
    return run_monitor


def _show(fleet: DemoFleet, dir: Path, *, monitored: bool) -> None:
    table = Table(title="botwatch demo fleet", title_justify="left")
    table.add_column("bot")
    table.add_column("pid", justify="right")
    table.add_column("health URL")
    table.add_column("log file")
    if fleet.api_url and fleet.fake_pid:
        table.add_row(
            f"[dim]{FAKE_NAME}[/]",
            str(fleet.fake_pid),
            f"[dim]{fleet.api_url} (Bot API)[/]",
            str(dir / "logs" / f"{FAKE_NAME}.log"),
        )
    for bot in fleet.bots:
        name = bot.name + (" [yellow](faults)[/]" if bot.role == "faulty" else "")
        table.add_row(name, str(bot.pid), bot.health_url, str(dir / "logs" / bot.log.name))
    console.print(table)
    config = dir / "botwatch.yml"
    console.print(f"config: [bold]{escape(str(config))}[/]")
    console.print("\nTry, in another terminal:")
    hints = [
        f"botwatch check -c {config}",
        f"botwatch demo fault flakybot errors on --dir {dir}",
        f"botwatch demo fault flakybot slow-db on --dir {dir}",
        f"botwatch demo fault flakybot crash on --dir {dir}",
        f"tail -f {dir / 'logs' / 'flakybot.log'}",
    ]
    if not monitored:
        hints.insert(1, f"botwatch run -c {config}")
    for hint in hints:
        console.print(f"  [cyan]{escape(hint)}[/]")
    console.print(
        "\nflakybot starts with a slow memory leak. "
        + ("The monitor runs in this process. " if monitored else "")
        + "Press Ctrl-C to stop everything."
    )


async def _serve(
    fleet: DemoFleet,
    run_monitor: Callable[..., Coroutine[Any, Any, None]] | None,
    loaded: LoadedConfig | None,
) -> int:
    """Wait for Ctrl-C/SIGTERM, reporting children that exit; run the monitor if asked."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    monitor: asyncio.Task[None] | None = None
    if run_monitor is not None and loaded is not None:
        monitor = asyncio.create_task(run_monitor(loaded, stop=stop), name="monitor")
    code = 0
    try:
        while not stop.is_set():
            for name, exit_code in fleet.poll():
                console.print(
                    f"[red]✗[/] {name} exited with code {exit_code} "
                    "(the demo does not restart it; see its log)"
                )
            if monitor is not None and monitor.done():
                exc = monitor.exception()
                if exc is not None:
                    err_console.print(f"[bold red]error:[/] the monitor failed: {exc!r}")
                    code = 1
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        stop.set()
        if monitor is not None and not monitor.done():
            try:
                await asyncio.wait_for(monitor, 30.0)
            except TimeoutError:
                err_console.print("[yellow]the monitor did not stop within 30 s[/]")
            except Exception as e:
                err_console.print(f"[bold red]error:[/] the monitor failed: {e!r}")
                code = 1
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return code


@demo_app.command("fault")
def fault(
    bot: Annotated[str, typer.Argument(help="Demo bot, e.g. flakybot.", metavar="BOT")],
    fault: Annotated[
        Fault, typer.Argument(help="leak, errors, crash or slow-db.", metavar="FAULT")
    ],
    state: Annotated[Switch, typer.Argument(help="on or off.", metavar="on|off")],
    dir: DirOption = DEFAULT_DIR,
) -> None:
    """Switch a fault of a running demo bot: leak, errors, crash or slow-db."""
    run = dir / "run"
    control = run / f"{bot}.control.json"
    if not control.exists():
        known = sorted(p.name.removesuffix(".control.json") for p in run.glob("*.control.json"))
        if not known:
            fail(f"no demo fleet in {dir}; start one with `botwatch demo --dir {dir}`")
        fail(f"no demo bot {bot!r} in {dir}; the bots are: {', '.join(known)}")
    try:
        set_fault(control, fault.value, state is Switch.on)
    except ControlFileError as e:
        fail(escape(str(e)))
    console.print(
        f"{bot}: {fault.value} {state.value} (the bot reads {control} every second)",
        soft_wrap=True,
    )
    if not _fleet_running(run / "fleet.json"):
        err_console.print(
            f"[yellow]note:[/] no demo fleet seems to run in {dir}; "
            "starting one resets every bot's faults to the demo's defaults"
        )


def _fleet_running(state_file: Path) -> bool:
    try:
        pid = int(json.loads(state_file.read_text(encoding="utf-8"))["supervisor_pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return psutil.pid_exists(pid)
