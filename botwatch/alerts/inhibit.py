"""Inhibition: while a source alert fires, matching target alerts are not notified.

``BotProcessDown`` firing makes ``HealthUnhealthy`` for the same bot noise: the rule
``{source_matchers: [alertname="BotProcessDown"], target_matchers:
[alertname=~"Health.*"], equal: [bot]}`` keeps the pager to the cause. As in
Alertmanager, an alert never inhibits itself, and a label missing on both sides
counts as equal.
"""

from __future__ import annotations

__all__ = ["Inhibitor"]

from collections.abc import Iterable, Mapping, Sequence

from botwatch.alerts.matchers import Matcher, matches, parse_matchers
from botwatch.config.notify import InhibitRule


class Inhibitor:
    """The inhibit rules, applied to the alerts firing at one moment."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules: list[tuple[tuple[Matcher, ...], tuple[Matcher, ...], tuple[str, ...]]] = []
        for r in rules:
            src: tuple[Matcher, ...] = ()
            dst: tuple[Matcher, ...] = ()
            for text in r.source_matchers:
                src += parse_matchers(text)
            for text in r.target_matchers:
                dst += parse_matchers(text)
            self.rules.append((src, dst, tuple(r.equal)))

    def inhibited(
        self, firing: Iterable[Mapping[str, str]]
    ) -> dict[tuple[tuple[str, str], ...], Mapping[str, str]]:
        """Which of ``firing`` (label sets) are inhibited: their sorted labels → the
        labels of an alert inhibiting them."""
        alerts = list(firing)
        out: dict[tuple[tuple[str, str], ...], Mapping[str, str]] = {}
        for src, dst, equal in self.rules:
            sources: dict[tuple[str, ...], Mapping[str, str]] = {}
            for a in alerts:
                if matches(src, a):
                    sources.setdefault(tuple(a.get(k, "") for k in equal), a)
            if not sources:
                continue
            for a in alerts:
                if not matches(dst, a):
                    continue
                by = sources.get(tuple(a.get(k, "") for k in equal))
                if by is not None and by is not a and dict(by) != dict(a):
                    out.setdefault(tuple(sorted(a.items())), by)
        return out
