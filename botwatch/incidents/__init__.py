"""Incidents: a bot's critical alerts as one thing to acknowledge, escalate and resolve,
with a timeline and MTTD/MTTA/MTTR (the tables are ``botwatch.store.incidents``)."""

from __future__ import annotations

__all__ = ["IncidentTracker", "priority_of"]

from botwatch.incidents.tracker import IncidentTracker, priority_of
