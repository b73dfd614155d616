"""Probes: one module per kind, each registered in ``PROBES`` on import."""

from __future__ import annotations

from botwatch.probes import http  # noqa: F401  (registers)
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
]
