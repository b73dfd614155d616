"""``botwatch check``: a one-shot health report with Nagios exit codes."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Annotated, Any

import typer
from rich.markup import escape

from botwatch.cli._app import app
from botwatch.cli._common import DEFAULT_PATH, ConfigOption, console, fail, load
from botwatch.errors import BotwatchError
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.runner import run_once

# Report sections in the order an operator reads a health-check script's output.
SECTIONS = ("Process", "Health endpoint", "Platform API", "Ports", "Dependencies", "Logs", "Disk")
_SECTION_OF_KIND = {
    "process": "Process", "http": "Health endpoint", "telegram": "Platform API",
    "discord": "Platform API", "postgres": "Dependencies", "redis": "Dependencies",
    "mongodb": "Dependencies", "sqlite": "Dependencies", "logfile": "Logs", "disk": "Disk",
}  # fmt: skip
_COLOUR = {Status.OK: "green", Status.WARN: "yellow", Status.CRIT: "red", Status.UNKNOWN: "magenta"}


def section_of(result: ProbeResult) -> str:
    """Which report section a result belongs to."""
    if result.kind == "tcp":
        return "Ports" if result.check.startswith("port:") else "Dependencies"
    return _SECTION_OF_KIND.get(result.kind, "Other")


def summarize(results: list[ProbeResult]) -> dict[str, Any]:
    """The machine-readable report: overall status, then each bot's checks."""
    bots: dict[str, list[ProbeResult]] = defaultdict(list)
    for r in results:
        bots[r.bot].append(r)
    overall = Status.worst(r.status for r in results) if results else Status.UNKNOWN
    return {
        "status": overall.label,
        "exit_code": int(overall),
        "bots": {
            bot: {
                "status": Status.worst(r.status for r in rs).label,
                "checks": [r.to_dict() | {"section": section_of(r)} for r in rs],
            }
            for bot, rs in bots.items()
        },
    }


def render(results: list[ProbeResult]) -> None:
    """Print the sectioned report with ✓ ⚠ ✗."""
    by_bot: dict[str, list[ProbeResult]] = defaultdict(list)
    for r in results:
        by_bot[r.bot].append(r)
    for bot, rs in by_bot.items():
        worst = Status.worst(r.status for r in rs)
        console.print(
            f"\n[bold]{escape(bot)}[/]  [{_COLOUR[worst]}]{worst.symbol} {worst.label}[/]"
        )
        for section in (*SECTIONS, "Other"):
            in_section = [r for r in rs if section_of(r) == section]
            if not in_section:
                continue
            console.print(f"  [dim]{section}[/]")
            for r in in_section:
                c = _COLOUR[r.status]
                ms = f"{r.latency * 1000:.0f}ms"
                console.print(
                    f"    [{c}]{r.status.symbol}[/] {escape(r.check):<14} {escape(r.reason)} [dim]({ms})[/]",
                    soft_wrap=True,
                )
                for item in r.items:
                    ic = _COLOUR[item.status]
                    extra = f" — {escape(item.reason)}" if item.reason else ""
                    console.print(
                        f"        [{ic}]{item.status.symbol}[/] {escape(item.name)}{extra}"
                    )
    overall = Status.worst(r.status for r in results) if results else Status.UNKNOWN
    counts = {s: sum(1 for r in results if r.status is s) for s in Status}
    console.print(
        f"\n[{_COLOUR[overall]}]{overall.symbol} {overall.label.upper()}[/]  "
        f"{counts[Status.OK]} ok, {counts[Status.WARN]} warn, {counts[Status.CRIT]} crit, "
        f"{counts[Status.UNKNOWN]} unknown"
    )


@app.command()
def check(
    bots: Annotated[list[str] | None, typer.Argument(help="Bots to check (default: all).")] = None,
    config: ConfigOption = DEFAULT_PATH,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One-shot health report. Exit code 0 ok, 1 warn, 2 crit, 3 unknown (Nagios)."""
    loaded = load(config)
    try:
        probes = build_probes(loaded, bots or None)
    except BotwatchError as e:
        fail(str(e), code=3)
    if not probes:
        fail("nothing to check: no bot in the config has a check configured", code=3)

    async def go() -> list[ProbeResult]:
        ctx = ProbeContext()
        try:
            return await run_once(probes, ctx)
        finally:
            await ctx.close()

    results = asyncio.run(go())
    report = summarize(results)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        render(results)
    raise typer.Exit(report["exit_code"])
