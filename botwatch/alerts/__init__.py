"""Alerts: the state machine of every rule's instances, and the engine that drives it."""

from __future__ import annotations

__all__ = ["Alert", "AlertEngine", "AlertState", "RuleState", "Transition", "fingerprint"]

from botwatch.alerts.engine import AlertEngine
from botwatch.alerts.state import Alert, AlertState, RuleState, Transition, fingerprint
