"""PagerDuty Events API v2: trigger, acknowledge and resolve, one incident per alert group.

The ``dedup_key`` is the group's key for this receiver, so every trigger of a group
updates one PagerDuty incident and a resolve closes it; PagerDuty itself drops a
repeated trigger, so a crash between sending and recording costs nothing.
"""

from __future__ import annotations

__all__ = ["EVENTS_URL", "PagerDutyChannel", "dedup_key", "pagerduty_event"]

import hashlib
from typing import Any

from botwatch.channels.base import Channel, register
from botwatch.channels.message import Notification

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITIES = ("critical", "error", "warning", "info")
_ACTIONS = {"firing": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}


def dedup_key(n: Notification) -> str:
    """The PagerDuty incident key of ``n``'s group at its receiver."""
    return hashlib.sha256(f"{n.receiver}\xff{n.group_key}".encode()).hexdigest()[:32]


def pagerduty_event(n: Notification, routing_key: str) -> dict[str, Any]:
    """``n`` as an Events v2 body."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": _ACTIONS.get(n.status, "resolve"),
        "dedup_key": dedup_key(n),
    }
    if n.status == "firing":
        severity = n.severity if n.severity in _SEVERITIES else "warning"
        event["payload"] = {
            "summary": (n.title() + " — " + (n.common_annotations.get("summary") or ""))[:1024],
            "source": n.common_labels.get("bot") or "botwatch",
            "severity": severity,
            "custom_details": {"alerts": n.text(limit=8000), "labels": n.common_labels},
        }
        if n.external_url:
            event["links"] = [{"href": n.external_url, "text": "botwatch"}]
    return event


@register
class PagerDutyChannel(Channel):
    """Send Events v2 to PagerDuty (or ``url``, e.g. a local fake)."""

    kind = "pagerduty"
    dedups = True
    acks = True

    async def send(self, n: Notification) -> None:
        """Deliver ``n``."""
        assert self.spec.routing_key is not None  # the config requires it
        body = pagerduty_event(n, self.spec.routing_key.get_secret_value())
        await self.post_json(self.spec.url or EVENTS_URL, body)
