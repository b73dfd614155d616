"""Durations (``30s``, ``1h30m``) and sizes (``512MB``) as pydantic-aware types.

``Duration`` and ``Size`` are built on first use (PEP 562): commands that only parse
or format (``botwatch logs``) do not pay for importing pydantic at start-up."""

from __future__ import annotations

__all__ = ["Duration", "Size", "format_duration", "format_size", "parse_duration", "parse_size"]

import re
from typing import TYPE_CHECKING, Annotated, Any

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024, "ki": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2, "mi": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "gi": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4, "ti": 1024**4,
}  # fmt: skip


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``, ``1h30m``, ``250ms``, ``2d`` or a bare number of seconds.

    Raises ``ValueError`` with the accepted forms when the text is not a duration.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 30s, 5m or 1h30m")
    text = value.strip().lower().replace(" ", "")
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(
            f"{value!r} is not a duration; use a number with a unit: ms, s, m, h, d, w "
            "(e.g. 30s, 5m, 1h30m)"
        )
    return total


def parse_size(value: Any) -> int:
    """Bytes from ``512MB``, ``1.5GiB``, ``100k`` or a bare number of bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512MB or 2GiB")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return int(value)
    if not isinstance(value, str):
        raise ValueError("expected a size such as 512MB or 2GiB")
    m = _SIZE.match(value)
    unit = (m.group(2) or "").lower() if m else ""
    if not m or unit not in _SIZE_UNITS:
        raise ValueError(
            f"{value!r} is not a size; use a number with a unit: B, KB, MB, GB, TB "
            "(or KiB, MiB, GiB, TiB), e.g. 512MB"
        )
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def format_duration(seconds: float) -> str:
    """Short human form: ``90`` → ``1m30s``, ``0.25`` → ``250ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = "", round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


def format_size(n: float) -> str:
    """Short human form in the decimal units config uses: ``512000000`` → ``512MB``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f}{unit}" if float(n).is_integer() else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}TB"  # pragma: no cover - loop always returns


def _types() -> dict[str, Any]:
    from pydantic import BeforeValidator, PlainSerializer

    return {
        "Duration": Annotated[
            float, BeforeValidator(parse_duration),
            PlainSerializer(format_duration, return_type=str),
        ],
        "Size": Annotated[
            int, BeforeValidator(parse_size), PlainSerializer(format_size, return_type=str)
        ],
    }  # fmt: skip


if TYPE_CHECKING:
    from pydantic import BeforeValidator, PlainSerializer

    Duration = Annotated[
        float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
    ]
    """Seconds, written in config as ``30s``, ``5m``, ``1h30m``."""

    Size = Annotated[
        int, BeforeValidator(parse_size), PlainSerializer(format_size, return_type=str)
    ]
    """Bytes, written in config as ``512MB``, ``2GiB``."""
else:

    def __getattr__(name: str) -> Any:
        if name in ("Duration", "Size"):
            globals().update(_types())
            return globals()[name]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
