"""Alertmanager's webhook (version 4): the JSON every Alertmanager receiver understands.

Sent with an ``Idempotency-Key`` header (the notification's key), so a receiver that
honours it drops the repeat a crash between sending and recording would cause.
"""

from __future__ import annotations

__all__ = ["WebhookChannel", "webhook_payload"]

from datetime import UTC, datetime
from typing import Any

from botwatch.channels.base import Channel, check_address, register
from botwatch.channels.message import Notification


def _rfc3339(ts: float | None) -> str:
    if ts is None:
        return "0001-01-01T00:00:00Z"  # Alertmanager's "not ended"
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def webhook_payload(n: Notification) -> dict[str, Any]:
    """``n`` in Alertmanager's webhook v4 shape."""
    return {
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.truncated,
        "status": n.status,
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels,
        "commonAnnotations": n.common_annotations,
        "externalURL": n.external_url,
        "alerts": [
            {
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": _rfc3339(a.starts_at),
                "endsAt": _rfc3339(a.ends_at),
                "generatorURL": n.external_url,
                "fingerprint": a.fingerprint,
            }
            for a in n.alerts
        ],
    }


@register
class WebhookChannel(Channel):
    """POST the webhook JSON to ``url``."""

    kind = "webhook"
    dedups = True

    async def send(self, n: Notification) -> None:
        """Deliver ``n``."""
        url = self.spec.url or ""
        await check_address(url, self.spec.allow_private)
        await self.post_json(url, webhook_payload(n), {"Idempotency-Key": n.idempotency_key})
