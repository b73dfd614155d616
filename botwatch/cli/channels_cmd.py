"""``botwatch channels list|test NAME``: see the receivers and prove one works."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer
from rich.markup import escape

from botwatch.channels import build_channel
from botwatch.channels.message import AlertInfo, Notification
from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, fail, load
from botwatch.config.loader import redact_text
from botwatch.errors import ChannelError
from botwatch.http import HttpClient

channels_app = typer.Typer(help="Notification channels.", no_args_is_help=True)
app.add_typer(channels_app, name="channels")


@channels_app.command("list")
def channels_list(config: ConfigOption = DEFAULT_PATH) -> None:
    """The configured channels (secrets redacted)."""
    loaded = load(config)
    if not loaded.config.channels:
        console.print("no channels configured (see docs/notify.md)")
        return
    for name, spec in loaded.config.channels.items():
        where = ", ".join(redact_text(u) for u in (spec.url, *spec.urls) if u) or "(PagerDuty)"
        console.print(f"{escape(name)}  [dim]{spec.kind}[/]  {escape(where)}")


@channels_app.command("test")
def channels_test(
    name: Annotated[str, typer.Argument(help="The channel to send a test notification to.")],
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Send a test notification now (not through the outbox); exit 1 if it fails."""
    loaded = load(config)
    spec = loaded.config.channels.get(name)
    if spec is None:
        known = ", ".join(loaded.config.channels) or "none configured"
        fail(f"no channel {name!r} (channels: {known})")
    now = time.time()
    labels = {"alertname": "BotwatchTest", "severity": "info", "bot": "botwatch"}
    alert = AlertInfo("test", "firing", labels,
                      {"summary": f"test notification from botwatch to {name}"}, now)  # fmt: skip
    note = Notification(name, f"test:{now}", "firing", {"alertname": "BotwatchTest"}, [alert],
                        f"test-{now}", now, common_labels=labels)  # fmt: skip

    async def send() -> None:
        async with HttpClient() as http:
            await build_channel(name, spec, http).send(note)

    try:
        asyncio.run(send())
    except ChannelError as e:
        console.print(f"[red]✗[/] {escape(str(e))}")
        raise typer.Exit(1) from None
    console.print(f"[green]✓[/] sent a test notification to {escape(name)}")
