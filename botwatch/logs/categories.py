"""What kind of error a pattern is, and what the operators' runbooks say to do.

Checked in order, most specific first, against the pattern's example message, its
traceback's exception type and its logger: the first category whose expression
matches wins.
"""

from __future__ import annotations

__all__ = ["CATEGORIES", "Category", "categorize", "retry_after"]

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """A kind of error with its runbook advice."""

    name: str
    title: str
    action: str
    pattern: re.Pattern[str]


def _c(name: str, title: str, action: str, expr: str) -> Category:
    return Category(name, title, action, re.compile(expr, re.IGNORECASE))


CATEGORIES: tuple[Category, ...] = (
    _c("rate_limited", "rate limited (429)",
       "Sending faster than the platform allows: honour retry_after, keep broadcasts under "
       "~30 messages/s and 1/s per chat, batch them.",
       r"\b429\b|too many requests|retry[ _-]?after|flood ?control|rate.?limit|RetryAfter"),
    _c("conflict", "polling conflict (409): two instances",
       "Two processes poll with the same token (an old deploy still running?): stop the "
       "extra one; never run polling and a webhook together.",
       r"\b409\b|conflict: terminated by other getupdates|terminated by other getUpdates|"
       r"TelegramConflictError|error while getting updates"),
    _c("invalid_token", "invalid token (401)",
       "The token was revoked or mistyped: get the current one from @BotFather and update "
       "the bot's config.",
       r"\b401\b|unauthorized|invalid ?token|InvalidToken|TelegramUnauthorizedError|"
       r"improper token"),
    _c("blocked", "blocked by user / deactivated (403)",
       "The user blocked the bot or deleted their account: mark them inactive and stop "
       "sending to them.",
       r"\b403\b|forbidden|bot was blocked by the user|user is deactivated|bot was kicked|"
       r"TelegramForbiddenError"),
    _c("chat_not_found", "chat not found (400)",
       "The chat id is wrong or the chat is gone: remove it from your recipients.",
       r"chat not found|ChatNotFound|chat_not_found|PEER_ID_INVALID"),
    _c("out_of_memory", "out of memory",
       "Memory ran out: look for a leak (RSS trend over hours), raise the limit, restart.",
       r"MemoryError|out of memory|\bOOM\b|cannot allocate memory|Killed process"),
    _c("heartbeat", "gateway heartbeat blocked",
       "The event loop is blocked (a sync call, heavy CPU): move blocking work off the "
       "loop (asyncio.to_thread) so the gateway heartbeat gets through.",
       r"heartbeat blocked|can't keep up|shard id .* (?:heartbeat|has stopped responding)|"
       r"heartbeat.*(?:missed|timed out)"),
    _c("database", "database connection",
       "Is the database up and reachable? Connection limit reached? Credentials rotated? "
       "Add pooling and retries.",
       r"database|psycopg|asyncpg|sqlalchemy|OperationalError|InterfaceError|sqlite3|"
       r"\bredis\b|pymongo|mongo|too many connections|could not connect to server|"
       r"connection pool|deadlock"),
    _c("api_timeout", "API timeout",
       "The platform or an API did not answer in time: check latency, add retries with "
       "backoff and a sensible timeout.",
       r"timed? ?out|TimeoutError|ReadTimeout|ConnectTimeout|TimedOut|deadline exceeded"),
    _c("network", "network error",
       "Connections fail or reset: check DNS, the host's network and the API's status "
       "page; retry with backoff.",
       r"ClientConnectorError|ConnectionResetError|ConnectionRefused|NetworkError|"
       r"connection (?:refused|reset|aborted)|name or service not known|\b50[234]\b|"
       r"bad gateway|service unavailable|ServerDisconnected"),
    _c("invalid_command", "invalid command",
       "Users send a command the bot does not have: check the command list in BotFather "
       "and /help.",
       r"unknown command|CommandNotFound|invalid command|command not found|"
       r"no such command"),
    _c("crash", "crash / restart",
       "The bot crashed or restarted: read the traceback, fix the cause; `botwatch logs "
       "errors` groups what preceded it.",
       r"Traceback|unhandled exception|crash|segmentation fault|exited with code|"
       r"fatal error|shutting down|restart"),
)  # fmt: skip

OTHER = Category("other", "other error", "Look at the examples.", re.compile("$^"))

_RETRY_AFTER = re.compile(r"retry[ _-]?after\D{0,5}(\d+(?:\.\d+)?)", re.IGNORECASE)


def categorize(*texts: str | None) -> Category:
    """The first category matching any of ``texts`` (``OTHER`` if none)."""
    joined = "\n".join(t for t in texts if t)
    for c in CATEGORIES:
        if c.pattern.search(joined):
            return c
    return OTHER


def retry_after(text: str) -> float | None:
    """The ``retry_after`` seconds a rate-limit message names."""
    m = _RETRY_AFTER.search(text)
    return float(m.group(1)) if m else None
