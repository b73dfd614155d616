"""The alert state machine of one rule: its instances, and how each evaluation moves them.

An instance is one label set the rule's expression returned (Alertmanager's
fingerprint identifies it). Each evaluation moves instances:

    (new) ──true──► pending ──true for `for`──► firing ──false──► resolved
      │                │                          │  ▲
      │             false: dropped,               │  └─true again─┐
      │             nothing is sent          false, within keep_firing_for:
      └── for: 0 → firing at once                 recovering (still firing)

A condition that clears while pending sends nothing. ``apply`` returns the
``Transition``s the notifier and the store need; the state itself is plain data, so
it can be saved and loaded (a restart resumes without re-sending anything).
"""

from __future__ import annotations

__all__ = ["Alert", "AlertState", "RuleState", "Transition", "fingerprint"]

import enum
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class AlertState(enum.StrEnum):
    """Where an alert instance is in its life."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id of a label set (16 hex digits), as Alertmanager keys its alerts."""
    h = hashlib.sha256()
    for k in sorted(labels):
        h.update(k.encode())
        h.update(b"\xff")
        h.update(labels[k].encode())
        h.update(b"\xff")
    return h.hexdigest()[:16]


@dataclass
class Alert:
    """One instance of one rule."""

    rule: str
    labels: dict[str, str]
    fingerprint: str
    state: AlertState
    active_since: float
    """When the condition first held (this time round)."""
    value: float = math.nan
    annotations: dict[str, str] = field(default_factory=dict)
    fired_at: float | None = None
    last_true: float = -math.inf
    """The last evaluation that found the condition true (for ``keep_firing_for``)."""
    resolved_at: float | None = None
    last_eval: float = -math.inf

    @property
    def recovering(self) -> bool:
        """Firing, but only because of ``keep_firing_for``."""
        return self.state is AlertState.FIRING and self.last_true < self.last_eval

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the store, the API, ``botwatch alerts --json``)."""
        return {
            "rule": self.rule,
            "labels": self.labels,
            "fingerprint": self.fingerprint,
            "state": self.state.value,
            "active_since": self.active_since,
            "value": None if math.isnan(self.value) else self.value,
            "annotations": self.annotations,
            "fired_at": self.fired_at,
            "last_true": None if math.isinf(self.last_true) else self.last_true,
            "last_eval": None if math.isinf(self.last_eval) else self.last_eval,
            "resolved_at": self.resolved_at,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        """The inverse of ``to_dict``."""
        value = d.get("value")
        last_true = d.get("last_true")
        last_eval = d.get("last_eval")
        return cls(
            rule=d["rule"],
            labels=dict(d["labels"]),
            fingerprint=d["fingerprint"],
            state=AlertState(d["state"]),
            active_since=float(d["active_since"]),
            value=math.nan if value is None else float(value),
            annotations=dict(d.get("annotations") or {}),
            fired_at=d.get("fired_at"),
            last_true=-math.inf if last_true is None else float(last_true),
            last_eval=-math.inf if last_eval is None else float(last_eval),
            resolved_at=d.get("resolved_at"),
        )


@dataclass(frozen=True)
class Transition:
    """An instance changed state (``before`` None: it is new)."""

    alert: Alert
    before: AlertState | None
    after: AlertState
    at: float


@dataclass
class Found:
    """One instance the expression returned this evaluation."""

    labels: dict[str, str]
    value: float
    annotations: dict[str, str]


class RuleState:
    """The live instances of one rule and the rule's own health."""

    def __init__(self, rule: str, *, for_: float = 0.0, keep_firing_for: float = 0.0) -> None:
        self.rule = rule
        self.for_ = for_
        self.keep_firing_for = keep_firing_for
        self.alerts: dict[str, Alert] = {}
        self.health = "unknown"
        """``ok``, ``nodata`` or ``error`` after the last evaluation."""
        self.last_error: str | None = None
        self.last_eval: float | None = None
        self.changed: set[str] = set()
        """Fingerprints whose stored copy is out of date (new, moved on, or gone)."""

    def apply(self, now: float, found: Mapping[str, Found]) -> list[Transition]:
        """Move every instance by one evaluation at ``now`` that returned ``found``
        (by fingerprint); returns what changed."""
        out: list[Transition] = []
        for fp, f in found.items():
            a = self.alerts.get(fp)
            if a is None:
                a = self.alerts[fp] = Alert(
                    self.rule, f.labels, fp, AlertState.PENDING, now, f.value, f.annotations
                )
                out.append(Transition(a, None, AlertState.PENDING, now))
                self.changed.add(fp)
            a.value, a.annotations, a.last_true, a.last_eval = f.value, f.annotations, now, now
            if a.state is AlertState.PENDING and now - a.active_since >= self.for_:
                a.state, a.fired_at = AlertState.FIRING, now
                out.append(Transition(a, AlertState.PENDING, AlertState.FIRING, now))
                self.changed.add(fp)
        for fp in [fp for fp in self.alerts if fp not in found]:
            a = self.alerts[fp]
            a.last_eval = now
            if a.state is AlertState.PENDING:
                del self.alerts[fp]  # cleared before it fired: nothing was sent, nothing to say
                self.changed.add(fp)
                continue
            if now - a.last_true < self.keep_firing_for:
                continue  # recovering: still firing for a while, to ride out flapping
            del self.alerts[fp]
            a.state, a.resolved_at = AlertState.RESOLVED, now
            out.append(Transition(a, AlertState.FIRING, AlertState.RESOLVED, now))
            self.changed.add(fp)
        self.last_eval = now
        return out

    def firing(self) -> list[Alert]:
        """Instances firing now (recovering ones included)."""
        return [a for a in self.alerts.values() if a.state is AlertState.FIRING]

    def pending(self) -> list[Alert]:
        """Instances waiting out ``for``."""
        return [a for a in self.alerts.values() if a.state is AlertState.PENDING]
