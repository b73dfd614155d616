"""Silences: hold back notifications for alerts that match, for a while.

A silence is matchers, a start, an end, who made it and why. It never stops rules
from evaluating or alerts from firing (``botwatch alerts`` still shows them); it only
keeps matching alerts out of notifications while it is active.
"""

from __future__ import annotations

__all__ = ["Silencer", "new_silence"]

import uuid
from collections.abc import Iterable, Mapping, Sequence

from botwatch.alerts.matchers import Matcher, matches, parse_matchers
from botwatch.store.records import SilenceRow


def new_silence(
    matchers: Sequence[str],
    *,
    starts_at: float,
    ends_at: float,
    created_by: str,
    comment: str,
    now: float,
) -> SilenceRow:
    """A new silence, checked: raises ``ValueError`` for bad matchers or times."""
    if not matchers:
        raise ValueError('a silence needs at least one matcher, e.g. bot="alpha"')
    for text in matchers:
        parse_matchers(text)
    if ends_at <= starts_at:
        raise ValueError("a silence must end after it starts")
    if ends_at <= now:
        raise ValueError("that silence would already be over")
    if not comment.strip():
        raise ValueError("say why (--comment): whoever finds the silence will want to know")
    return SilenceRow(
        str(uuid.uuid4()), list(matchers), starts_at, ends_at, created_by, comment, now
    )


class Silencer:
    """The silences in force, ready to match alerts against."""

    def __init__(self, rows: Iterable[SilenceRow] = ()) -> None:
        self._rows: list[tuple[SilenceRow, tuple[Matcher, ...]]] = []
        self.load(rows)

    def load(self, rows: Iterable[SilenceRow]) -> None:
        """Replace the silences known (the store is the source of truth)."""
        parsed = []
        for row in rows:
            ms: tuple[Matcher, ...] = ()
            for text in row.matchers:
                ms += parse_matchers(text)
            parsed.append((row, ms))
        self._rows = parsed

    def silenced_by(self, labels: Mapping[str, str], now: float) -> str | None:
        """The id of an active silence matching ``labels``, if any."""
        for row, ms in self._rows:
            if row.active(now) and matches(ms, labels):
                return row.id
        return None
