"""The routing tree: which receivers an alert goes to, grouped how, and when.

Alertmanager's semantics: an alert enters at the root; a node whose matchers match it
offers it to its children in order; the first matching child takes it (and the ones
after it too while a child says ``continue``); a node no child takes is where the
alert ends. Unset settings are inherited from the parent (time intervals are not).
``group_by: [...]`` groups by every label.
"""

from __future__ import annotations

__all__ = ["DEFAULTS", "Route", "build_routes"]

from collections.abc import Mapping
from dataclasses import dataclass, field

from botwatch.alerts.matchers import Matcher, matches, parse_matchers
from botwatch.config.notify import RouteSpec

DEFAULTS = {"group_wait": 30.0, "group_interval": 300.0, "repeat_interval": 4 * 3600.0}
"""Alertmanager's defaults."""
ALL_LABELS = ("...",)


@dataclass
class Route:
    """One node with everything inherited filled in."""

    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]
    path: str
    """Where in the tree (``0.1.0``): part of every notification group's key."""
    routes: list[Route] = field(default_factory=list)

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The nodes ``labels`` end at (empty if this node does not match)."""
        if not matches(self.matchers, labels):
            return []
        out: list[Route] = []
        for child in self.routes:
            found = child.match(labels)
            if found:
                out += found
                if not child.continue_:
                    break
        return out or [self]

    def group_key(self, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The labels that put an alert in one notification group at this node."""
        if self.group_by == ALL_LABELS:
            return tuple(sorted(labels.items()))
        return tuple((k, labels.get(k, "")) for k in self.group_by)


def build_routes(spec: RouteSpec) -> Route:
    """The tree of ``spec`` with inherited settings resolved (the root needs a receiver)."""
    if spec.receiver is None:
        raise ValueError("the root route needs a receiver")
    return _build(spec, None, "0")


def _build(spec: RouteSpec, parent: Route | None, path: str) -> Route:
    def pick(name: str) -> float:
        own = getattr(spec, name)
        if own is not None:
            return float(own)
        return getattr(parent, name) if parent is not None else DEFAULTS[name]

    matchers: tuple[Matcher, ...] = ()
    for text in spec.matchers:
        matchers += parse_matchers(text)
    group_by = (
        tuple(spec.group_by)
        if spec.group_by is not None
        else (parent.group_by if parent is not None else ())
    )
    node = Route(
        receiver=spec.receiver or (parent.receiver if parent is not None else ""),
        matchers=matchers,
        group_by=group_by,
        group_wait=pick("group_wait"),
        group_interval=pick("group_interval"),
        repeat_interval=pick("repeat_interval"),
        continue_=spec.continue_,
        # As in Alertmanager, time intervals are the node's own, not inherited (unlike
        # Alertmanager, the root may have them: "mute everything during maintenance").
        mute_time_intervals=tuple(spec.mute_time_intervals),
        active_time_intervals=tuple(spec.active_time_intervals),
        path=path,
    )
    node.routes = [_build(child, node, f"{path}.{i}") for i, child in enumerate(spec.routes)]
    return node
