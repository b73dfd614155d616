"""What a notification says: one group of alerts, firing or resolved.

Built by the dispatcher, stored as JSON in the outbox, and turned by each channel
into its wire format (Alertmanager's webhook JSON, a PagerDuty event, a chat message).
Human text respects each platform's length limit: alerts that do not fit are
counted, never cut mid-line.
"""

from __future__ import annotations

__all__ = ["LIMITS", "AlertInfo", "Notification"]

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

LIMITS = {"discord": 2000, "telegram": 4096, "slack": 40000, "default": 4000}
"""Message length limits by platform (Discord's content, Telegram's text)."""


@dataclass(frozen=True)
class AlertInfo:
    """One alert as notified."""

    fingerprint: str
    status: str
    """``firing`` or ``resolved``."""
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None
    value: float | None = None


@dataclass(frozen=True)
class Notification:
    """One group's news for one receiver."""

    receiver: str
    group_key: str
    status: str
    """``firing`` if any alert is, else ``resolved``; ``acknowledged`` for an incident
    someone acknowledged."""
    group_labels: dict[str, str]
    alerts: list[AlertInfo]
    idempotency_key: str
    created_at: float
    external_url: str = ""
    truncated: int = 0
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    kind: str = "alert"
    """``alert`` (the routing tree's), ``escalation`` or ``ack`` (an incident's)."""
    note: str = ""
    """A first line for people: who acknowledged, why this is an escalation."""

    def to_json(self) -> dict[str, Any]:
        """The stored form (the outbox's ``payload``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Notification:
        """The inverse of ``to_json``."""
        alerts = [AlertInfo(**a) for a in d.get("alerts", [])]
        return cls(**{**d, "alerts": alerts})

    @property
    def firing(self) -> list[AlertInfo]:
        """The alerts still firing."""
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def severity(self) -> str:
        """The group's severity label (the most severe of its alerts)."""
        order = {"critical": 0, "error": 1, "warning": 2, "info": 3}
        found = [a.labels.get("severity", "warning") for a in (self.firing or self.alerts)]
        return min(found, key=lambda s: order.get(s, 9)) if found else "warning"

    def title(self) -> str:
        """One line: ``[FIRING:2] HealthUnhealthy alpha``, or ``[RESOLVED] ...``."""
        n = len(self.firing)
        head = f"[FIRING:{n}]" if self.status == "firing" else "[RESOLVED]"
        if self.status == "acknowledged":
            head = "[ACKNOWLEDGED]"
        elif self.kind == "escalation" and self.status == "firing":
            head = f"[ESCALATED] [FIRING:{n}]"
        name = self.common_labels.get("alertname") or self.group_labels.get("alertname", "")
        where = self.common_labels.get("bot") or self.group_labels.get("bot", "")
        return " ".join(p for p in (head, name, where) if p)

    def text(self, limit: int = LIMITS["default"]) -> str:
        """The body: each alert's summary, value, since when and runbook hint, then a
        dashboard link; alerts past ``limit`` characters are counted, not cut."""
        lines: list[str] = [self.note] if self.note else []
        footer = f"\n{self.external_url}" if self.external_url else ""
        budget = limit - len(footer)
        for shown, a in enumerate(self.alerts):
            block = _alert_text(a)
            left = len(self.alerts) - shown
            more = f"\n\n…and {left - 1} more" if left > 1 else ""
            if lines and len("\n\n".join([*lines, block])) + len(more) > budget:
                lines.append(f"…and {left} more")
                break
            lines.append(block[: max(0, budget)])
        return "\n\n".join(lines) + footer


def _alert_text(a: AlertInfo) -> str:
    name = a.labels.get("alertname", "alert")
    bot = a.labels.get("bot")
    head = f"{'✅' if a.status == 'resolved' else '🔴' if a.labels.get('severity') == 'critical' else '⚠️'} {name}"
    if bot:
        head += f" · {bot}"
    parts = [head]
    summary = a.annotations.get("summary")
    if summary:
        parts.append(summary)
    if a.value is not None and not math.isnan(a.value) and a.status == "firing":
        parts.append(f"value: {a.value:g}")
    since = datetime.fromtimestamp(a.starts_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if a.status == "resolved" and a.ends_at is not None:
        ended = datetime.fromtimestamp(a.ends_at, UTC).strftime("%H:%M UTC")
        parts.append(f"since {since}, resolved {ended}")
    else:
        parts.append(f"since {since}")
    runbook = a.annotations.get("runbook")
    if runbook and a.status == "firing":
        parts.append(f"runbook: {runbook}")
    return "\n".join(parts)
