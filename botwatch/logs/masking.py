"""Masking the variable parts of a log message before it is grouped into a template.

``1.2.3.4:8080``, ``/var/lib/x``, ``https://api.telegram.org/...``, UUIDs, hex,
numbers with or without units (``12ms``, ``1.5s``, ``100KB``), quoted values and ids
like ``user 123456789`` all become ``<*>``, so ``Failed to send to user 123: Forbidden``
and ``Failed to send to user 456: Forbidden`` are one pattern. Small meaningful codes
stay: an HTTP or API status after ``status``, ``code``, ``HTTP``, ``error`` (or before
its reason phrase) keeps ``429`` and ``500`` apart, because they call for different
actions.
"""

from __future__ import annotations

__all__ = ["WILDCARD", "mask", "tokens"]

import re

WILDCARD = "<*>"

# Variable parts that have no digit to give them away, or that span spaces, in
# priority order (a URL before the path inside it). Each is tried only when its cheap
# trigger is in the message: most messages have none, and a regex pass costs far more
# than `in`. Everything with a digit (numbers, IPs, UUIDs, hex, versions, durations)
# is a token with a digit, handled after the split.
_DAYS = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_UNIT = r"(?:[KMGTP]i?B|bytes?|ms|s|secs?|seconds?|min|%)"
_VARIABLES: tuple[tuple[str, re.Pattern[str] | None, re.Pattern[str], str], ...] = (
    # (trigger, probe, pattern, replacement): the pattern runs only when the trigger is
    # in the message and, where there is one, the cheaper probe finds something.
    #
    # A size restated in other units ("451 bytes (0.44 KB) sent") or a bound on a
    # duration ("lifetime <1 sec"): variable-length values, kept to one token or none,
    # so lines that have them and lines that do not stay one pattern.
    ("(", None, re.compile(rf"(\d[\d.,]*\s?{_UNIT}) \(\d[\d.,]*\s?{_UNIT}\)"), r"\1"),
    ("<", None, re.compile(rf"<\s?\d[\d.]*\s?{_UNIT}(?!\w)"), WILDCARD),
    # A date written out inside a message ("at Sun Jul 24 02:38:21 2005"): its words
    # have no digit but are as variable as the rest of it.
    (
        ":",
        re.compile(r"[JFMASOND][a-z]{2}[a-z]* {1,2}\d"),  # a month name and a day
        re.compile(
            rf"\b(?:{_DAYS},?\s+)?{_MONTHS}\s+\d{{1,2}},?\s+(?:\d{{4}}\s+)?"
            rf"\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\s+\d{{4}})?\b"
        ),
        WILDCARD,
    ),
    ("://", None, re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+"), WILDCARD),
    ("@", None, re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), WILDCARD),
    ("/", None, re.compile(r"(?<![\w/])(?:~|\.{1,2})?/[\w.@%+~-]+(?:/[\w.@%+~-]*)+"), WILDCARD),
    ('"', None, re.compile(r'(?<!\w)"[^"\n]{0,200}"(?!\w)'), WILDCARD),
    ("'", None, re.compile(r"(?<!\w)'[^'\n]{0,200}'(?!\w)"), WILDCARD),  # not "can't"
)

# A token with a digit in it is a variable (an id, a count, a duration, a version) —
# unless it is a status code the context marks as one.
_HAS_DIGIT = re.compile(r"\d")
_EMPTY = {"()": f"({WILDCARD})", "[]": f"[{WILDCARD}]", "(),": f"({WILDCARD}),"}
_WORD_DIGIT = re.compile(r"[A-Za-z]{2,}\d[,;:.)]?$")
_DIGIT_TOKEN = re.compile(r"(?<!\S)[^\s\d]*\d\S*")  # from token starts only: linear
_CODE = re.compile(r"^[1-5]\d\d$")
_CODE_BEFORE = frozenset(
    {"status", "code", "http", "error", "err", "response", "returned", "got", "statuscode",
     "status_code", "error_code", "http/1.1", "http/1.0", "http/2"}
)  # fmt: skip
_CODE_AFTER = frozenset(
    {"ok", "bad", "unauthorized", "forbidden", "not", "conflict", "too", "internal",
     "service", "gateway", "created", "accepted", "no", "moved", "found", "unprocessable",
     "request"}
)  # fmt: skip
_EDGE = ",;:()[]{}<>\"'"
_SEP = ",;:)"
_NAME = re.compile(r"[A-Za-z_][A-Za-z_,]*$")
"""A key before ``:`` (``index:0``): a name, not a host (``proxy.example.com:80``)."""


def _is_code(word: str, before: str, after: str) -> bool:
    if not _CODE.match(word):
        return False
    b = before.strip(_EDGE + "=").lower()
    if b in _CODE_BEFORE:
        return True
    # "429 Too Many Requests" at the start of a message or after a separator; not
    # "user 555: Forbidden", where the number is whose, not what.
    a = after.strip(_EDGE).lower()
    return a in _CODE_AFTER and (not before or before[-1] in ":-|>]")


def tokens(message: str) -> list[str]:
    """``message`` split into tokens with its variable parts as ``<*>``."""
    masked = message
    for trigger, probe, rx, repl in _VARIABLES:
        if trigger in masked and (probe is None or probe.search(masked)):
            masked = rx.sub(repl, masked)
    # Only tokens with a digit need a look (in C for the rest: most words have none).
    out = _DIGIT_TOKEN.sub(_number, masked).split()
    if WILDCARD in out:
        out = _units(out)
    if "true" in masked or "false" in masked or "null" in masked:
        out = [_BOOL.sub(_bool, w) for w in out]
    if "=" in masked:
        # key=value: the key says what it is, the value varies (user=root, tty=ssh).
        out = [_KV.sub(_kv, w) if "=" in w else w for w in out]
    if "()" in masked or "= " in masked or masked.endswith("="):
        # An empty value is still a value: "()" and "logname=" hold what "(host)" and
        # "logname=root" hold elsewhere.
        out = [_EMPTY.get(w) or (w + WILDCARD if w.endswith("=") and len(w) > 1 else w)
               for w in out]  # fmt: skip
    return out


_UNIT_WORD = re.compile(
    r"(?:[KMGTP]?i?B|bytes?|[mnuµ]s|s|secs?|seconds?|mins?|minutes?|%)"
    r"([,;:.)]?)"
)


def _units(out: list[str]) -> list[str]:
    """A number and its unit are one value: "93.0 B" and "5.2 KB" are both ``<*>``."""
    kept: list[str] = []
    for w in out:
        if kept and kept[-1] == WILDCARD:
            m = _UNIT_WORD.fullmatch(w)
            if m is not None:
                kept[-1] = WILDCARD + m.group(1)
                continue
        kept.append(w)
    return kept


_BOOL = re.compile(r"^([\w.]*[:=])?(?:true|false|null)([,;:.)]?)$")


def _bool(m: re.Match[str]) -> str:
    return f"{m.group(1) or ''}{WILDCARD}{m.group(2)}"


_KV = re.compile(r"^([A-Za-z_][\w.-]*)=([^=<\s][^=\s]*?)([,;:)]?)$")


def _kv(m: re.Match[str]) -> str:
    if m.group(1).lower() in _CODE_BEFORE and _CODE.match(m.group(2)):
        return m.group()  # status=404: a code, kept
    return f"{m.group(1)}={WILDCARD}{m.group(3)}"


def _number(m: re.Match[str]) -> str:
    w = m.group()
    if w.isdigit() and (len(w) != 3 or w[0] not in "12345"):
        return WILDCARD  # the usual case, decided at once: a plain number, no code
    if _WORD_DIGIT.match(w):
        return w  # a name with a version digit: SOCKS5, IPv6, utf8, HTTP2
    if WILDCARD in w:
        return w  # keeps its shape: "(<*>)", "url=<*>"
    core = w.strip(_EDGE)
    if _CODE.match(core):
        text = m.string
        before = text[: m.start()].rsplit(None, 1)
        after = text[m.end() :].split(None, 1)
        if _is_code(core, before[-1] if before else "", after[0] if after else ""):
            return w
    key, eq, value = core.partition("=")
    if eq and key.lower() in _CODE_BEFORE and _CODE.match(value):
        return w  # status=404
    # Keep the punctuation around a number: "(12)" and "12," stay telling.
    lead = w[: len(w) - len(w.lstrip(_EDGE))]
    trail = w[len(w.rstrip(_EDGE)) :]
    if eq and not _HAS_DIGIT.search(key):
        # "id=42" → "id=<*>"; the value's own brackets are part of it ("{10113}").
        return f"{lead}{key}={WILDCARD}{trail[-1:] if trail[-1:] in _SEP else ''}"
    if not eq and ":" in core:
        key, _, value = core.rpartition(":")
        if key.lower() in _CODE_BEFORE and _CODE.match(value):
            return w  # status:429, as status=429
        if _NAME.match(key):
            return f"{lead}{key}:{WILDCARD}{trail}"  # "index:0" → "index:<*>"
    return f"{lead}{WILDCARD}{trail}"


def mask(message: str) -> str:
    """``message`` with its variable parts as ``<*>`` (tokens joined by one space)."""
    return " ".join(tokens(message))
