"""Probes: one module per kind, each registered in ``PROBES`` on import."""

from __future__ import annotations

from botwatch.probes import process  # noqa: F401  (registers; first so it leads reports)

# isort: split
# isort: off
from botwatch.probes import http  # noqa: F401  (registers)
from botwatch.probes import tcp  # noqa: F401  (registers)
from botwatch.probes import telegram  # noqa: F401  (registers)
from botwatch.probes import discord  # noqa: F401  (registers)
from botwatch.probes import postgres  # noqa: F401  (registers)
from botwatch.probes import redis  # noqa: F401  (registers)
from botwatch.probes import mongodb  # noqa: F401  (registers)
from botwatch.probes import sqlite  # noqa: F401  (registers)
from botwatch.probes import disk  # noqa: F401  (registers)
from botwatch.probes import logfile  # noqa: F401  (registers)

# isort: on
from botwatch.probes.base import (
    PROBES,
    Item,
    Outcome,
    Probe,
    ProbeContext,
    ProbeResult,
    Status,
    check_settings,
    register,
)
from botwatch.probes.plan import build_probes
from botwatch.probes.runner import run_once

__all__ = [
    "PROBES",
    "Item",
    "Outcome",
    "Probe",
    "ProbeContext",
    "ProbeResult",
    "Status",
    "build_probes",
    "check_settings",
    "register",
    "run_once",
]
