"""Secrets leaked into logs: bot tokens, API keys, passwords in URLs — found with one
byte-level search per block and only ever reported redacted.

A leaked Telegram token lets anyone run the bot; operators find them with
``grep -E '[0-9]{8,10}:[A-Za-z0-9_-]{35}'`` after the fact. ``botwatch logs secrets``
does that for every kind below, and never prints what it found in full.
"""

from __future__ import annotations

__all__ = [
    "KINDS", "Finding", "SecretScan", "find_secrets", "redact", "redact_text", "scan_secrets",
]  # fmt: skip

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from botwatch.logs.read import LineReader

KINDS: dict[str, str] = {
    "telegram_token": r"(?<![\w:])\d{8,10}:[A-Za-z0-9_-]{35}(?![\w-])",
    "discord_token": r"(?<![\w.-])[MNO][A-Za-z\d_-]{23,27}\.[\w-]{6}\.[\w-]{27,38}(?![\w-])",
    "aws_access_key": r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])",
    "github_token": r"(?<!\w)(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{30,}",
    "openai_key": r"(?<![\w-])sk-(?:proj-)?[A-Za-z0-9_-]{20,}",
    "slack_token": r"(?<!\w)xox[abposr]-[A-Za-z0-9-]{10,}",
    "stripe_key": r"(?<!\w)(?:sk|rk)_live_[A-Za-z0-9]{20,}",
    "google_api_key": r"(?<!\w)AIza[0-9A-Za-z_-]{35}",
    # Bounded parts: an unbounded scheme would try every start in a long run of
    # letters (a 10 MB line) all the way to its end — quadratic.
    "password_in_url": r"[a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^\s:/@]{1,200}:[^\s@/]{3,200}@[^\s/]+",
    "private_key": r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----",
    "password_field": r"(?i:(?<![\w-])(?:password|passwd|pwd|secret|api_key|apikey|token))"
                      r"[\"']?\s*[:=]\s*[\"']?(?!\*{3})[^\s\"',;]{6,}",
}  # fmt: skip
"""Kind → pattern (matched on bytes, decoded only when found)."""

_ALL = re.compile(b"|".join(f"(?P<{k}>{v})".encode() for k, v in KINDS.items()))
_ALL_TEXT = re.compile("|".join(f"(?P<{k}>{v})" for k, v in KINDS.items()))


def redact(value: str, kind: str) -> str:
    """``value`` with all but a recognisable start and end hidden: enough to tell which
    key it was, never enough to use it."""
    if kind == "password_in_url":
        return re.sub(r"(://[^\s:/@]+:)[^\s@/]+@", r"\1****@", value)
    if kind == "password_field":
        m = re.match(r"(?i)(.*?[:=]\s*[\"']?)(.*)", value)
        return (m.group(1) if m else "") + "****"
    if kind == "private_key":
        return value
    if kind == "telegram_token":
        bot, _, secret = value.partition(":")
        return f"{bot}:{secret[:2]}…{secret[-2:]}"
    keep = 4 if len(value) > 16 else 2
    return f"{value[:keep]}…{value[-2:]}"


def find_secrets(data: bytes) -> list[tuple[str, str]]:
    """Every secret in ``data`` (raw log bytes) as (kind, redacted value), in order."""
    return [(m.lastgroup or "secret", redact(m.group().decode("utf-8", "replace"),
                                             m.lastgroup or "secret"))
            for m in _ALL.finditer(data)]  # fmt: skip


def redact_text(text: str) -> str:
    """``text`` with every secret in it redacted (examples shown to people: error
    patterns, security events)."""
    return _ALL_TEXT.sub(lambda m: redact(m.group(), m.lastgroup or "secret"), text)


@dataclass
class Finding:
    """One secret (one distinct value), where it was first seen and how often."""

    kind: str
    redacted: str
    first_line: int
    count: int = 1


@dataclass
class SecretScan:
    """What a source leaked."""

    findings: list[Finding] = field(default_factory=list)
    lines: int = 0
    bytes: int = 0


def scan_secrets(stream: BinaryIO, *, progress: Callable[[int], None] | None = None) -> SecretScan:
    """Every distinct secret in ``stream`` (redacted), with its first line and count."""
    reader = LineReader(stream, progress=progress)
    seen: dict[bytes, Finding] = {}
    out = SecretScan()
    line_no = 0
    for block in reader.blocks():
        pos = 0
        for m in _ALL.finditer(block):
            line_no += block.count(b"\n", pos, m.start())
            pos = m.start()
            value = m.group()
            found = seen.get(value)
            if found is not None:
                found.count += 1
                continue
            kind = m.lastgroup or "secret"
            text = value.decode("utf-8", "replace")
            seen[value] = Finding(kind, redact(text, kind), line_no + 1)
        line_no += block.count(b"\n", pos)
        if not block.endswith(b"\n"):
            line_no += 1  # the last line, without a newline
    out.findings = sorted(seen.values(), key=lambda f: f.first_line)
    out.lines, out.bytes = line_no, reader.bytes
    return out
