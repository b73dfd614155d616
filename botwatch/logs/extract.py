"""Extraction rules: what a log record says besides its level — a latency, a command a
user sent, a delivery outcome, a platform API error code, a security event, a start,
stop or crash.

A rule is a regex with named groups and a ``kind``; what each kind reads:

=========== ===========================================================================
kind        groups (or fixed values the rule sets)
=========== ===========================================================================
latency     ``value`` (a number), ``unit`` (ms, s, us; default the rule's), ``name``
command     ``command`` (``/start``; ``@BotName`` dropped)
delivery    ``success`` and/or ``failed`` (counts; a fixed ``outcome`` makes the line
            one message), ``reason`` (grouped by error category)
api_error   ``code`` (HTTP-style: 400, 403, 429…) or ``name`` (an exception class),
            ``platform``
security    ``event`` (rate_limit, violation, blocked, auth_failed, admin_access),
            ``user``
lifecycle   ``event`` (startup, shutdown, crash)
=========== ===========================================================================

Each rule has needles — lower-case words one of which the message must hold — so the
regexes run only on the few records that may match (the built-ins cost one
``str.lower`` and a handful of ``in`` tests for most records).
"""

from __future__ import annotations

__all__ = [
    "BUILTIN", "KINDS", "Extractor", "Extractors", "Observation", "unit_seconds", "user_extractors",
]  # fmt: skip

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botwatch.logs.categories import categorize
from botwatch.logs.record import LogRecord

if TYPE_CHECKING:
    from botwatch.config.logs import LogExtract

KINDS = ("latency", "command", "delivery", "api_error", "security", "lifecycle")

_UNITS = {
    "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "microseconds": 1e-6,
    "m": 60.0, "min": 60.0, "minutes": 60.0, "ns": 1e-9,
}  # fmt: skip


def unit_seconds(unit: str) -> float | None:
    """Seconds in one ``unit`` (``ms`` → 0.001); None for a unit we don't know."""
    return _UNITS.get(unit.strip().lower())


@dataclass(frozen=True)
class Observation:
    """One thing a record said. ``key`` is what it is about (the latency's name, the
    command, the error code, the event); ``value`` a number (seconds for latency, a
    count for delivery, else 1); ``extra`` the rest (reason, platform, user)."""

    kind: str
    key: str
    value: float = 1.0
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Extractor:
    """One extraction rule."""

    kind: str
    pattern: re.Pattern[str]
    needles: tuple[str, ...] = ()
    """Lower-case words one of which a message must hold (empty: every message)."""
    fixed: Mapping[str, str] = field(default_factory=dict)
    """Values the rule sets itself (``event: startup``, ``unit: ms``, ``outcome``)."""
    name: str = ""
    """Where it came from (the built-in's name, or ``log_extract[2]``)."""

    def read(self, message: str) -> list[Observation]:
        """What ``message`` says by this rule (its ``needles`` are checked by the
        caller, ``Extractors.extract``, on the message in lower case)."""
        m = self.pattern.search(message)
        if m is None:
            return []
        # ``name2``: the same group in another alternative (names must be unique).
        got = {k.rstrip("0123456789"): v for k, v in m.groupdict().items() if v is not None}
        return _observe(self.kind, {**self.fixed, **got})


def _observe(kind: str, g: Mapping[str, str]) -> list[Observation]:
    """Observations from a match's groups (over the rule's fixed values)."""
    if kind == "latency":
        try:
            value = float(g["value"].replace(",", "."))
        except (KeyError, ValueError):
            return []
        scale = unit_seconds(g.get("unit", "ms"))
        if scale is None:
            return []
        name = (g.get("name") or g.get("what") or "request").strip()
        return [Observation(kind, name or "request", value * scale)]
    if kind == "command":
        cmd = g.get("command", "").split("@", 1)[0].strip().lower()
        return [Observation(kind, cmd)] if cmd else []
    if kind == "delivery":
        out = []
        extra = {}
        if g.get("reason"):
            extra["reason"] = categorize(g["reason"]).name
        outcome = g.get("outcome")
        if outcome in ("success", "failed"):
            return [Observation(kind, outcome, 1.0, {"source": "message", **extra})]
        for key in ("success", "failed"):
            if key in g:
                with contextlib.suppress(ValueError):  # a user's group that is no number
                    out.append(Observation(kind, key, float(g[key]), {"source": "summary"}))
        return out
    if kind == "api_error":
        code = g.get("code") or _CODES.get(g.get("name", ""), "")
        if not code:
            return []
        platform = g.get("platform", "").lower()
        if platform == "aiogram" or g.get("name", "").startswith("Telegram"):
            platform = "telegram"
        extra = {"platform": platform or "unknown"}
        if g.get("name"):
            extra["name"] = g["name"]
        return [Observation(kind, code, 1.0, extra)]
    # security, lifecycle: an event, with a user for security
    event = g.get("event", "").strip().lower().replace(" ", "_")
    if not event:
        return []
    extra = {"user": g["user"]} if g.get("user") else {}
    return [Observation(kind, _EVENTS.get(event, event), 1.0, extra)]


# Exception classes of python-telegram-bot, aiogram and discord.py → the API's code.
_CODES = {
    "BadRequest": "400", "TelegramBadRequest": "400", "ChatNotFound": "400",
    "Unauthorized": "401", "InvalidToken": "401", "TelegramUnauthorizedError": "401",
    "LoginFailure": "401",
    "Forbidden": "403", "TelegramForbiddenError": "403",
    "NotFound": "404", "TelegramNotFound": "404",
    "Conflict": "409", "TelegramConflictError": "409",
    "RetryAfter": "429", "TelegramRetryAfter": "429", "RateLimited": "429",
    "TelegramEntityTooLarge": "413",
    "TelegramServerError": "500", "DiscordServerError": "500",
    "TimedOut": "timeout", "NetworkError": "network", "TelegramNetworkError": "network",
}  # fmt: skip
_REASONS = {"bad request": "400", "unauthorized": "401", "forbidden": "403",
            "not found": "404", "conflict": "409", "too many requests": "429"}  # fmt: skip
_EVENTS = {
    "rate_limited": "rate_limit", "rate-limit": "rate_limit", "ratelimit": "rate_limit",
    "throttled": "rate_limit", "flood": "rate_limit",
    "banned": "blocked", "ban": "blocked",
    "authentication_failed": "auth_failed", "failed_auth": "auth_failed",
    "login_failed": "auth_failed", "invalid_password": "auth_failed",
    "unauthorized_access": "auth_failed", "access_denied": "auth_failed",
    "admin": "admin_access",
}  # fmt: skip


def _r(kind: str, rule: str, expr: str, needles: Iterable[str], **fixed: str) -> Extractor:
    return Extractor(kind, re.compile(expr, re.IGNORECASE), tuple(needles), fixed, rule)


_NUM = r"(?P<value>\d+(?:[.,]\d+)?)"
_UNIT = r"\s?(?P<unit>ms|msecs?|milliseconds?|s|secs?|seconds?|us|µs|μs)\b"

BUILTIN: tuple[Extractor, ...] = (
    # aiogram 3: "Update id=123 is handled. Duration 12 ms by bot id=456"
    _r("latency", "aiogram-update",
       r"Update id=\d+ is (?:not )?handled\. Duration " + _NUM + _UNIT,
       ["duration"], name="update"),
    # "API response time: 123ms", "processing time 1.2s", "DB query time=35 ms"
    _r("latency", "response-time",
       r"(?:(?P<name>[A-Za-z][\w./-]{0,40}) )?(?P<what>response|processing|execution|"
       r"handling|request|query|render) time\b(?: (?:was|is|of))?[\s:=]{0,3}" + _NUM + _UNIT,
       [" time"]),
    # "Handler /start took 120ms", "get_prices took 1.2s", "/stats completed in 80 ms"
    _r("latency", "took",
       r"(?P<name>/?[A-Za-z_][\w./-]{0,40})(?: (?:handler|command|request|call))? "
       r"(?:took|completed in|finished in|done in|handled in)[\s:=]{0,3}" + _NUM + _UNIT,
       [" took", " completed in", " finished in", " done in", " handled in"]),
    # "Command: /start", "command /help from user 1", "Received command /stats@MyBot"
    _r("command", "command",
       r"\bcommand\b[\s:='\"]{0,3}(?:received[\s:]{0,3})?(?P<command>/[A-Za-z][\w@]{0,63})",
       ["command"]),
    # "/start from user 123", "User 123 sent /help", "used command /start"
    _r("command", "slash-from-user",
       r"(?:^|\s)(?P<command>/[A-Za-z][\w@]{0,63}) (?:command )?(?:from|by) (?:user|@|\d)|"
       r"\b(?:sent|used|issued|invoked) (?P<command2>/[A-Za-z][\w@]{0,63})",
       [" from ", " by ", "sent /", "used /", "issued /", "invoked /"]),
    # "Notifications sent: 150 success, 5 failed", "Broadcast done: sent=150 failed=5"
    _r("delivery", "summary",
       r"(?:notifications?|messages?|broadcast|mailing|newsletter|alerts?|digest)\b[^\n]{0,40}?"
       r"(?:sent|delivered|done|finished|complete[d]?)\b[\s:=,-]{0,4}"
       r"(?:(?:success(?:ful)?|ok|sent|delivered)[\s:=]{0,3})?(?P<success>\d+)\b"
       r"[^\d\n]{0,30}?(?:(?P<failed>\d+)\s?(?:failed|failures?|errors?|fail)|"
       r"(?:failed|failures?|errors?)[\s:=]{1,3}(?P<failed2>\d+))",
       ["sent", "delivered", "done", "finished", "complete"]),
    # "Failed to send to user 123: Forbidden: bot was blocked by the user"
    _r("delivery", "failed-to-send",
       r"(?:failed|unable|could not|couldn't|cannot) (?:to )?(?:send|deliver)\b[^:\n]{0,60}"
       r"(?::\s?(?P<reason>.+))?",
       ["send", "deliver"], outcome="failed"),
    # "Message sent to user 123", "Notification delivered to chat -100123"
    _r("delivery", "sent-to",
       r"\b(?:message|notification|alert|digest|reminder)s? (?:was |successfully )?"
       r"(?:sent|delivered) to (?:user|chat|subscriber|\d|-\d|@)",
       [" to "], outcome="success"),
    # python-telegram-bot / aiogram / discord.py exception classes
    _r("api_error", "exception-class",
       r"\b(?P<platform>telegram|aiogram|discord)(?:\.\w+)*\.(?:errors?|exceptions)\."
       r"(?P<name>\w+)|\b(?P<name2>Telegram(?:BadRequest|Unauthorized\w*|Forbidden\w*|"
       r"NotFound|Conflict\w*|RetryAfter|EntityTooLarge|ServerError|NetworkError))\b",
       ["telegram", "aiogram", "discord"]),
    # the Bot API's JSON: {"ok":false,"error_code":429,"description":"Too Many Requests…"}
    _r("api_error", "error-code",
       r"[\"']?error_code[\"']?\s?[:=]\s?(?P<code>[1-5]\d\d)\b",
       ["error_code"], platform="telegram"),
    # discord.py: "403 Forbidden (error code: 50013): Missing Permissions"
    _r("api_error", "discord-http",
       r"\b(?P<code>[45]\d\d) (?:Bad Request|Unauthorized|Forbidden|Not Found|"
       r"Too Many Requests|Internal Server Error|Service Unavailable) \(error code: \d+\)",
       ["error code"], platform="discord"),
    # security: what operators grep for
    _r("security", "security",
       r"(?P<event>rate[ _-]?limit(?:ed)?|throttled|flood|violation|"
       r"(?:failed (?:auth\w*|login)|auth\w* failed|login failed|invalid password|"
       r"unauthori[sz]ed access|access denied)|admin (?:access|command|panel|login)|"
       r"\b(?:banned|blocked)\b)"
       r"(?:[^\n]{0,60}?\b(?:user|uid|user_id|id|from(?: user)?)[\s:=#]{0,3}"
       r"(?P<user>@\w{1,40}|\d[\w-]{0,39}))?",
       ["rate", "throttl", "flood", "violation", "auth", "login", "password",
        "access", "admin", "banned", "blocked"]),
    # lifecycle
    _r("lifecycle", "startup",
       r"\b(?:start(?:ing|ed)? polling|run polling|bot (?:is )?(?:started|starting|running|"
       r"online|ready)|starting (?:the )?bot|application started|logged in as|"
       r"has connected to gateway|webhook (?:set|started)|started server process)",
       ["start", "polling", "running", "online", "ready", "logged in", "connected"],
       event="startup"),
    _r("lifecycle", "shutdown",
       r"\b(?:stop(?:ping|ped)? polling|polling stopped|bot (?:is )?(?:stopped|stopping|"
       r"shut ?down)|shutting down|application (?:is )?stopp(?:ing|ed)|received "
       r"sig(?:term|int)|graceful(?:ly)? shut|closing bot session|finished server process)",
       ["stop", "shut", "sigterm", "sigint", "closing", "finished"], event="shutdown"),
)  # fmt: skip

_SECURITY_API = re.compile(r"\b429\b|too many requests|retry[ _-]?after|flood control",
                           re.IGNORECASE)  # fmt: skip
_CRASH = re.compile(
    r"\b(?:unhandled|uncaught) exception|fatal error|segmentation fault|core dumped|"
    r"out of memory|killed process|panic:", re.IGNORECASE)  # fmt: skip
_DELIVERY_BLOCKED = re.compile(r"blocked by (?:the )?user|bot was kicked", re.IGNORECASE)


def user_extractors(specs: Iterable[LogExtract], bot: str | None = None) -> list[Extractor]:
    """The config's ``log_extract`` rules (those for ``bot``, when given) as extractors."""
    out = []
    for i, spec in enumerate(specs):
        if bot is not None and spec.bots and bot not in spec.bots:
            continue
        fixed = {k: v for k, v in (("name", spec.name), ("event", spec.event),
                                   ("outcome", spec.outcome), ("platform", spec.platform))
                 if v is not None}  # fmt: skip
        fixed["unit"] = spec.unit
        out.append(Extractor(spec.kind, re.compile(spec.match), (), fixed, f"log_extract[{i}]"))
    return out


class Extractors:
    """The built-in rules (``builtin``) and a user's, applied to records."""

    def __init__(self, user: Iterable[Extractor] = (), *, builtin: bool = True) -> None:
        self.rules: tuple[Extractor, ...] = (*user, *(BUILTIN if builtin else ()))
        self.user_kinds = {r.kind for r in user}

    def extract(self, rec: LogRecord) -> list[Observation]:
        """Everything ``rec`` says. A user's rule of a kind wins over the built-ins of
        that kind for the same record (it is more specific)."""
        message = rec.message
        lowered = message.lower()
        out: list[Observation] = []
        kinds: set[str] = set()
        for rule in self.rules:
            if rule.kind in kinds:
                continue  # one reading of each kind per record: the first rule's
            if rule.needles:
                # The rule's words, checked here in a plain loop: this runs for every
                # rule on every record, where a call or a generator costs more than
                # the searches themselves.
                for needle in rule.needles:
                    if needle in lowered:
                        break
                else:
                    continue
            got = rule.read(message)
            if got:
                if rule.kind == "security" and (
                    _SECURITY_API.search(message) or _DELIVERY_BLOCKED.search(message)
                ):
                    continue  # the platform's 429 / a user blocking the bot are not attacks
                kinds.add(rule.kind)
                out.extend(got)
        if "api_error" not in kinds and rec.is_error:
            code = _api_reason(message)
            if code:
                # "Forbidden: bot was blocked…" is how the Bot API words its errors.
                out.append(Observation("api_error", code, 1.0, {"platform": "telegram"}))
        if _is_crash(rec, lowered):
            out.append(Observation("lifecycle", "crash"))
        return out


_REASON = re.compile(
    r"\b(Bad Request|Unauthorized|Forbidden|Not Found|Conflict|Too Many Requests)"
    r"(?::| \()", re.IGNORECASE)  # fmt: skip


def _api_reason(message: str) -> str | None:
    """A Bot API error the message quotes by its reason (``Forbidden: bot was blocked``)."""
    m = _REASON.search(message)
    return _REASONS.get(m.group(1).lower()) if m else None


def _is_crash(rec: LogRecord, lowered: str) -> bool:
    """An uncaught exception, or a line that says the process died. A traceback under
    an error or warning record was logged (``logger.exception``) and handled; one
    under no record, an info line or a critical one was printed as the process died."""
    if rec.exc_type is not None and rec.level not in ("error", "warning"):
        return True
    return ("fatal" in lowered or "exception" in lowered or "fault" in lowered
            or "killed" in lowered or "memory" in lowered or "panic" in lowered) and bool(
        _CRASH.search(rec.message))  # fmt: skip
