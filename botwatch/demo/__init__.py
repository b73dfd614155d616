"""A real demo fleet: Telegram bots on the SDK, polling a local fake, with injectable faults.

``DemoFleet`` starts the fake Telegram API and three demo bots as child processes and
writes a ``botwatch.yml`` that watches them; ``botwatch demo`` runs it from the terminal.
"""

from __future__ import annotations

__all__ = ["DEMO_BOTS", "DemoBotSpec", "DemoFleet", "FleetError", "RunningBot"]

from botwatch.demo.fleet import DEMO_BOTS, DemoBotSpec, DemoFleet, FleetError, RunningBot
