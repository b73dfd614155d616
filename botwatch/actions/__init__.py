"""Acting on bots: managed child processes and the supervisor that restarts them."""

from __future__ import annotations

__all__ = [
    "CONTROLLERS",
    "Controller",
    "ManagedChild",
    "RestartPolicy",
    "Supervisor",
    "controller_for",
]

from botwatch.actions.controllers import CONTROLLERS, Controller, controller_for
from botwatch.actions.managed import ManagedChild
from botwatch.actions.supervisor import RestartPolicy, Supervisor
