"""Annotation templates: ``{{ $labels.bot }} uses {{ $value | humanize1024 }}B``.

The subset of Prometheus' Go templates that alert annotations use: ``$labels.NAME``,
``$value`` and ``$labels`` piped through the humanize filters. Anything else is an
error when the rule file is loaded, not a surprise in a 3 a.m. notification.
"""

from __future__ import annotations

__all__ = ["check_template", "render"]

import math
import re
from collections.abc import Callable, Mapping

from botwatch.config.units import format_duration

_FIELD = re.compile(r"\{\{(.*?)\}\}", re.S)
_EXPR = re.compile(
    r"^\s*(?:(?P<fn>humanize\w*)\s+)?(?P<var>\$value|\$labels\.(?P<label>[A-Za-z_]\w*))"
    r"\s*(?:\|\s*(?P<pipe>\w+)\s*)?$"
)


def _si(value: float, base: float, units: tuple[str, ...]) -> str:
    if not math.isfinite(value) or value == 0:
        return f"{value:g}"
    n = 0
    v = value
    while abs(v) >= base and n < len(units) - 1:
        v /= base
        n += 1
    return f"{v:.4g}{units[n]}"


_FILTERS: dict[str, Callable[[float], str]] = {
    "humanize": lambda v: _si(v, 1000.0, ("", "k", "M", "G", "T", "P")),
    "humanize1024": lambda v: _si(v, 1024.0, ("", "Ki", "Mi", "Gi", "Ti", "Pi")),
    "humanizeDuration": lambda v: format_duration(v) if math.isfinite(v) else f"{v:g}",
    "humanizePercentage": lambda v: f"{v * 100:.4g}%",
}


def check_template(text: str) -> str | None:
    """None if ``text`` renders; else what is wrong with its first bad ``{{ }}``."""
    for m in _FIELD.finditer(text):
        found = _EXPR.match(m.group(1))
        if found is None:
            return (
                f"cannot read {m.group(0)!r}: use {{{{ $labels.NAME }}}} or {{{{ $value }}}}, "
                f"optionally piped to {', '.join(_FILTERS)}"
            )
        fn = found.group("fn") or found.group("pipe")
        if fn is not None and fn not in _FILTERS:
            return f"unknown filter {fn!r} in {m.group(0)!r}; known: {', '.join(_FILTERS)}"
    if "{{" in _FIELD.sub("", text):
        return "a '{{' is never closed with '}}'"
    return None


def render(text: str, labels: Mapping[str, str], value: float) -> str:
    """``text`` with its fields filled in (a template that fails ``check_template`` is
    left as written)."""

    def one(m: re.Match[str]) -> str:
        found = _EXPR.match(m.group(1))
        if found is None:
            return m.group(0)
        fn = found.group("fn") or found.group("pipe")
        if found.group("label") is not None:
            raw = labels.get(found.group("label"), "")
            if fn is None:
                return raw
            try:
                return _FILTERS[fn](float(raw))
            except (KeyError, ValueError):
                return raw
        if fn is None:
            return f"{value:g}"
        f = _FILTERS.get(fn)
        return f(value) if f is not None else f"{value:g}"

    return _FIELD.sub(one, text)
