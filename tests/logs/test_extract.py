"""Extraction rules: what bots' log lines say about latency, commands, delivery, API
errors, security and their own lifecycle."""

from __future__ import annotations

import pytest

from botwatch.config.logs import LogExtract
from botwatch.logs.extract import Extractors, user_extractors
from botwatch.logs.parse import LogParser

PREFIX = "2026-11-30 08:00:01,123 - bot - {level} - "


def said(message: str, level: str = "INFO", extractors: Extractors | None = None) -> set[tuple]:
    """(kind, key, value, extra) of everything one python-logging line says."""
    [rec] = list(LogParser().records([PREFIX.format(level=level) + message]))
    return {(o.kind, o.key, round(o.value, 6), tuple(sorted(o.extra.items())))
            for o in (extractors or Extractors()).extract(rec)}  # fmt: skip


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Update id=123 is handled. Duration 12 ms by bot id=456", ("latency", "update", 0.012)),
        ("Update id=5 is not handled. Duration 3 ms by bot id=456", ("latency", "update", 0.003)),
        ("API response time: 123ms", ("latency", "API", 0.123)),
        ("processing time 1.2s", ("latency", "processing", 1.2)),
        ("DB query time=35 ms", ("latency", "DB", 0.035)),
        ("Handler /start took 120ms", ("latency", "/start", 0.12)),
        ("get_prices took 1,5 s", ("latency", "get_prices", 1.5)),
        ("Command: /start", ("command", "/start", 1.0)),
        ("Received command /stats@MyBot from user 1", ("command", "/stats", 1.0)),
        ("/help from user 12345", ("command", "/help", 1.0)),
        ("User 42 used /price", ("command", "/price", 1.0)),
    ],
)
def test_latency_and_commands(message: str, expected: tuple) -> None:
    kind, key, value = expected
    assert (kind, key, value, ()) in said(message)


def test_delivery_summary_lines_give_both_counts() -> None:
    for message in ("Notifications sent: 150 success, 5 failed",
                    "Broadcast done: sent=150 failed=5",
                    "Daily digest delivered: 150 ok / 5 errors"):  # fmt: skip
        got = {(k, key, v) for k, key, v, _ in said(message)}
        assert got == {("delivery", "success", 150.0), ("delivery", "failed", 5.0)}, message


def test_a_failed_send_counts_one_with_its_reason_and_api_error() -> None:
    got = said("Failed to send to user 123: Forbidden: bot was blocked by the user", "ERROR")
    assert ("delivery", "failed", 1.0, (("reason", "blocked"), ("source", "message"))) in got
    assert ("api_error", "403", 1.0, (("platform", "telegram"),)) in got
    # A user blocking the bot is not a security event.
    assert not [g for g in got if g[0] == "security"]
    got = said("Failed to send message to 55: Bad Request: chat not found", "ERROR")
    assert ("delivery", "failed", 1.0, (("reason", "chat_not_found"), ("source", "message"))) in got
    assert ("delivery", "success", 1.0, (("source", "message"),)) in said("Message sent to user 9")


@pytest.mark.parametrize(
    ("message", "code", "platform"),
    [
        ("telegram.error.RetryAfter: Flood control exceeded. Retry in 5 seconds", "429", "telegram"),
        ("aiogram.exceptions.TelegramRetryAfter: Telegram server says - Flood control", "429",
         "telegram"),
        ("TelegramConflictError: Conflict: terminated by other getUpdates request", "409",
         "telegram"),
        ("discord.errors.Forbidden: 403 Forbidden (error code: 50013): Missing Permissions", "403",
         "discord"),
        ('{"ok":false,"error_code":401,"description":"Unauthorized"}', "401", "telegram"),
        ("Error in handler: Telegram server says - Bad Request: message is not modified", "400",
         "telegram"),
    ],
)  # fmt: skip
def test_platform_api_errors_by_code(message: str, code: str, platform: str) -> None:
    got = [g for g in said(message, "ERROR") if g[0] == "api_error"]
    assert len(got) == 1 and got[0][1] == code and dict(got[0][3])["platform"] == platform


@pytest.mark.parametrize(
    ("message", "event", "user"),
    [
        ("Rate limit exceeded for user 12345", "rate_limit", "12345"),
        ("Security violation: user 999 tried /admin", "violation", "999"),
        ("Failed auth attempt from user 4242", "auth_failed", "4242"),
        ("Admin access granted to user @boss", "admin_access", "@boss"),
        ("Blocked user 666 for spam", "blocked", "666"),
    ],
)
def test_security_events(message: str, event: str, user: str) -> None:
    assert ("security", event, 1.0, (("user", user),)) in said(message, "WARNING")


def test_the_platforms_rate_limit_is_an_api_error_not_a_security_event() -> None:
    got = said("HTTP error 429: Too Many Requests: rate limit, retry after 5", "ERROR")
    assert not [g for g in got if g[0] == "security"]


def test_lifecycle_start_stop_and_crash() -> None:
    assert ("lifecycle", "startup", 1.0, ()) in said("Start polling")
    assert ("lifecycle", "startup", 1.0, ()) in said("Logged in as MyBot#1234")
    assert ("lifecycle", "shutdown", 1.0, ()) in said("Polling stopped")
    assert ("lifecycle", "shutdown", 1.0, ()) in said("Received SIGTERM, shutting down")
    assert ("lifecycle", "crash", 1.0, ()) in said("Fatal error: cannot continue", "CRITICAL")
    assert said("an ordinary line about the weather") == set()


def test_a_traceback_nobody_logged_is_a_crash_a_logged_one_is_not() -> None:
    lines = [
        PREFIX.format(level="ERROR") + "Error while handling update 5",
        "Traceback (most recent call last):",
        '  File "bot.py", line 3, in handle',
        "ValueError: bad",
        PREFIX.format(level="INFO") + "Shutting down",
        "Traceback (most recent call last):",
        '  File "bot.py", line 9, in <module>',
        "    main()",
        "RuntimeError: boom",
    ]
    handled, died = LogParser().records(lines)
    ex = Extractors()
    assert "crash" not in {o.key for o in ex.extract(handled)}
    assert {o.key for o in ex.extract(died)} == {"shutdown", "crash"}


def test_rules_of_your_own_win_over_the_builtins() -> None:
    specs = [
        LogExtract(kind="latency", match=r"render (?P<name>\w+) in (?P<value>\d+)", unit="us"),
        LogExtract(kind="delivery", match=r"push ok", outcome="success", bots=["alpha"]),
        LogExtract(kind="security", match=r"captcha failed", event="auth_failed"),
    ]
    ex = Extractors(user_extractors(specs, "alpha"))
    assert said("render chart in 2500", extractors=ex) == {("latency", "chart", 0.0025, ())}
    assert ("delivery", "success", 1.0, (("source", "message"),)) in said("push ok", extractors=ex)
    assert said("captcha failed", extractors=ex) == {("security", "auth_failed", 1.0, ())}
    # Rules for other bots are left out.
    assert said("push ok", extractors=Extractors(user_extractors(specs, "beta"))) == set()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "latency", "match": "took (\\d+"}, "not a valid regex"),
        ({"kind": "latency", "match": "took (\\d+) ms"}, "needs a 'value' group"),
        ({"kind": "lifecycle", "match": "bye", "event": "exploded"}, "startup, shutdown or crash"),
        ({"kind": "delivery", "match": "sent"}, "'success' or 'failed' group"),
    ],
)
def test_bad_rules_are_refused_with_what_to_write(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LogExtract.model_validate(spec)
