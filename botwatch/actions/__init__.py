"""Acting on bots: managed child processes and the supervisor that restarts them."""

from __future__ import annotations

__all__ = ["ManagedChild", "RestartPolicy", "Supervisor"]

from botwatch.actions.managed import ManagedChild
from botwatch.actions.supervisor import RestartPolicy, Supervisor
