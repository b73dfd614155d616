"""Which lines continue the record before them: one set of rules for the parser (on
text) and the error scan (on bytes), so the two can never disagree."""

from __future__ import annotations

__all__ = ["CONTINUATION", "EXCEPTION_LINE", "is_continuation"]

import re

_EXCEPTION_ENDINGS = (
    "Error", "Exception", "Exit", "Interrupt", "Warning", "Failure", "Fault", "Timeout",
    "Conflict", "Forbidden", "BadRequest", "RetryAfter", "Unauthorized", "InvalidToken",
    "ChatMigrated", "TimedOut",
)  # fmt: skip
_STARTS = (
    "Traceback (most recent call last)",
    "During handling of the above exception",
    "The above exception was the direct cause",
    "Caused by:",
)
_TYPE = rf"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:{'|'.join(_EXCEPTION_ENDINGS)})"

EXCEPTION_LINE = re.compile(rf"^(?P<type>{_TYPE})(?::\s|:?$)")
"""A traceback's last line (``aiohttp.ClientError: ...``); ``type`` is the exception."""

CONTINUATION = re.compile(
    rf"[ \t]|{'|'.join(re.escape(s) for s in _STARTS)}|{_TYPE}(?::\s|:?\r?$)".encode()
)
"""``is_continuation`` for a line in a byte block (``match`` at the line's start)."""


def is_continuation(line: str) -> bool:
    """Whether ``line`` continues the record before it (traceback, stack, indented)."""
    if not line:
        return False
    if line[0] in " \t":
        return True
    return line.startswith(_STARTS) or EXCEPTION_LINE.match(line) is not None
