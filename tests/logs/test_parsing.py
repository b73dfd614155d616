"""Formats, multi-line records, masking and templates, on lines as bots write them."""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

import pytest

from botwatch.errors import ConfigError
from botwatch.logs.errors import Window, scan_errors
from botwatch.logs.formats import FORMATS, detect, parse_ts, user_format
from botwatch.logs.masking import mask
from botwatch.logs.parse import LogParser
from botwatch.logs.templates import TemplateMiner

JAKARTA = ZoneInfo("Asia/Jakarta")


@pytest.mark.parametrize(
    ("line", "fmt", "level", "message", "logger"),
    [
        ("2026-11-30 08:00:01,123 - bot.handlers - ERROR - Failed to send",
         "python", "error", "Failed to send", "bot.handlers"),
        ("2026-11-30 08:00:01,123 - WARNING - low disk", "python", "warning", "low disk", None),
        ("ERROR:aiogram.dispatcher:Cause exception while getting updates.",
         "python-bare", "error", "Cause exception while getting updates.", "aiogram.dispatcher"),
        ("[2026-11-30 08:00:01] [WARNING ] discord.gateway: Shard ID None heartbeat blocked "
         "for more than 10 seconds.", "discord.py", "warning",
         "Shard ID None heartbeat blocked for more than 10 seconds.", "discord.gateway"),
        ("\x1b[30;1m[2026-11-30 08:00:01]\x1b[0m \x1b[31m[ERROR   ]\x1b[0m \x1b[35mdiscord.client"
         "\x1b[0m: Ignoring exception in on_message", "discord.py", "error",
         "Ignoring exception in on_message", "discord.client"),
        ("2026-11-30 08:00:01.123 | CRITICAL | bot.main:run:42 - Bot crashed", "loguru",
         "critical", "Bot crashed", "bot.main:run:42"),
        ('{"event": "send failed", "level": "error", "timestamp": "2026-11-30T08:00:01Z", '
         '"logger": "bot"}', "json", "error", "send failed", "bot"),
        ('{"level":50,"time":1795939201000,"msg":"request failed","name":"api"}', "json",
         "error", "request failed", "api"),
        ('{"text": "x\\n", "record": {"message": "boom", "level": {"name": "ERROR"}, '
         '"time": {"timestamp": 1795939201.5}, "name": "bot"}}', "json", "error", "boom", "bot"),
        ('ts=2026-11-30T08:00:01Z level=warn msg="slow reply" took=1.2s', "logfmt",
         "warning", "slow reply", None),
        ("Nov 30 08:00:01 host mybot[123]: ERROR could not reach Telegram", "syslog",
         "error", "ERROR could not reach Telegram", "mybot"),
    ],
)  # fmt: skip
def test_each_format_reads_its_lines(
    line: str, fmt: str, level: str, message: str, logger: str | None
) -> None:
    (rec,) = LogParser(FORMATS[fmt]).records([line])
    assert (rec.level, rec.message, rec.logger, rec.parsed) == (level, message, logger, True)
    assert (rec.ts is not None) == (fmt != "python-bare")  # the bare default has no time


def test_python_lines_read_by_a_split_as_the_regex_reads_them() -> None:
    import random

    from botwatch.logs.formats import PythonCommon, RegexFormat

    fmt = PythonCommon()
    lines = [
        "2026-11-30 08:00:01,123 - bot.core - ERROR - Failed - twice - over",
        "2026-11-30 08:00:01 - ERROR - no logger - but dashes",
        "2026-11-30T08:00:01.5 - bot - WARNING - T separator",
        "2026-11-30X08:00:01 - bot - ERROR - not ISO enough",
        "2026-11-30 08:00:01+02:00 - bot - ERROR - zoned",
        "2026-11-30 08:00:01,123 - my bot - ERROR - a logger with a space",
        "2026-11-30 08:00:01,123 - \u3000bot - ERROR - other whitespace",
        "2026-11-30 08:00:01,123 - bot - Information - eleven letters",
        "2026-11-30 08:00:01,123 - bot - eRRor - odd case",
        "2026-11-30 08:00:01,123 - bot - 40 - a number",
        "2026-11-30 08:00:01,123 - bot - NOTALEVEL - m",
        "2026-11-30 08:00:01,123 - bot - ERROR - ",
        "2026-11-30 08:00:01,123 -  - ERROR - empty logger",
        "2026-13-30 08:00:01,123 - bot - ERROR - month 13",
        "2026-11-30 08:00:01,1234567 - bot - ERROR - long fraction",
        "2026-11-30 08:00:01,123 - bot - ERROR - multi\nline",
    ]
    rng = random.Random(5)
    parts = ["2026-11-30 08:00:01,123", "2026-11-30 08:00:01", "x", "bot", "a b", "ERROR",
             "Warning", "crit", "-", "", "msg - more"]  # fmt: skip
    lines += [" - ".join(rng.choice(parts) for _ in range(rng.randrange(2, 6)))
              for _ in range(3000)]  # fmt: skip
    for tz in (ZoneInfo("UTC"), ZoneInfo("Asia/Kathmandu")):
        for line in lines:
            fast, slow = fmt.parse(line, tz), RegexFormat.parse(fmt, line, tz)
            got = None if fast is None else (fast.message, fast.level, fast.ts, fast.logger)
            want = None if slow is None else (slow.message, slow.level, slow.ts, slow.logger)
            assert got == want, line


def test_detection_picks_the_format_most_lines_are_in() -> None:
    lines = [f"2026-11-30 08:00:0{i},000 - bot - INFO - hello {i}" for i in range(5)]
    assert detect(lines) is FORMATS["python"]
    assert detect(["ERROR:bot:x", "INFO:bot:y"]) is FORMATS["python-bare"]
    # Tracebacks and a stray line the catch-all reads ("Error" in it) do not make a
    # Python log "generic" (which would leave "bot - ERROR -" in every message).
    traceback = ["Traceback (most recent call last):", '  File "/app/bot.py", line 3, in f',
                 "telegram.error.RetryAfter: Flood control exceeded"]  # fmt: skip
    mixed = lines[:2] + traceback + ["garbage Error here", "2026-11-30 08:00:09 oops"] + lines
    assert detect(mixed) is FORMATS["python"]
    # Where no one format reads half the lines, the catch-all does.
    odd = ["2026-11-30 08:00:01 started", "2026-11-30 08:00:02 ERROR failed", lines[0]]
    assert detect(odd) is FORMATS["generic"]


def test_timestamps_with_and_without_zones() -> None:
    assert parse_ts("2026-11-30T01:00:00Z") == parse_ts("2026-11-30 08:00:00", JAKARTA)
    assert parse_ts("2026-11-30 08:00:00,250 +0700") == parse_ts("2026-11-30T01:00:00.25Z")
    assert parse_ts("1795939201000") == parse_ts(1795939201) == 1795939201.0
    assert parse_ts("not a time") is None


def test_tracebacks_and_continuations_join_their_record() -> None:
    text = """2026-11-30 08:00:01,000 - bot - ERROR - Update failed
Traceback (most recent call last):
  File "/app/bot.py", line 10, in handle
    await send()
aiohttp.client_exceptions.ClientConnectorError: Cannot connect to host api.telegram.org:443

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/bot.py", line 12, in handle
    raise RuntimeError("gave up")
RuntimeError: gave up
2026-11-30 08:00:02,000 - bot - INFO - next
    an indented continuation
TypeError: Cannot read properties of undefined (reading 'id')
    at handler (/app/index.js:12:5)
"""
    p = LogParser()
    recs = list(p.records(text.splitlines()))
    assert [r.line for r in recs] == [1, 13]
    first, second = recs
    assert first.exc_type == "RuntimeError" and first.is_error
    assert first.extra[-1] == "RuntimeError: gave up" and len(first.extra) == 9
    assert second.level == "info" and second.exc_type == "TypeError"
    assert p.unparsed == 0 and p.blank == 2


def test_lines_without_a_time_get_their_neighbours() -> None:
    lines = ["2026-11-30 08:00:01,000 - bot - INFO - a", "plain words", "more plain words"]
    recs = list(LogParser(FORMATS["python"]).records(lines))
    assert [r.parsed for r in recs] == [True, False, False]
    assert recs[1].ts == recs[2].ts == recs[0].ts


@pytest.mark.parametrize(
    ("spec", "line", "level", "message", "logger"),
    [
        ("<Date> <Time> <Level> <Component>: <Content>",
         "2026-11-30 08:00:01 ERROR bot.core: Failed to x", "error", "Failed to x", "bot.core"),
        (r"(?P<ts>\S+) \[(?P<level>\w+)\] (?P<message>.*)",
         "2026-11-30T08:00:01Z [warn] disk low", "warning", "disk low", None),
    ],
)  # fmt: skip
def test_user_formats(spec: str, line: str, level: str, message: str, logger: str | None) -> None:
    rec = user_format(spec).parse(line)
    assert rec is not None and (rec.level, rec.message, rec.logger) == (level, message, logger)
    assert rec.ts is not None


def test_user_format_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="needs a <Content> field"):
        user_format("<Date> <Level>")
    with pytest.raises(ConfigError, match="needs a \\(\\?P<message>"):
        user_format("(?P<level>x)")
    with pytest.raises(ConfigError, match="not a valid regex"):
        user_format("(?P<message>[)")


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("Failed to send to user 123456789: Forbidden: bot was blocked by the user",
         "Failed to send to user <*>: Forbidden: bot was blocked by the user"),
        ("HTTP error 429: Too Many Requests", "HTTP error 429: Too Many Requests"),
        ("HTTP error 500: Internal Server Error", "HTTP error 500: Internal Server Error"),
        ("status=404 path=/api/v1/users id=5", "status=404 path=<*> id=<*>"),
        ("GET https://api.telegram.org/bot1:A/getMe took 0.5s", "GET <*> took <*>"),
        ("conn 10.0.0.1:5432 refused (attempt 3)", "conn <*> refused (attempt <*>)"),
        ("session 123e4567-e89b-12d3-a456-426614174000 expired", "session <*> expired"),
        ("can't parse 'hello world' for alice@example.com", "can't parse <*> for <*>"),
        ("connection from 1.2.3.4 () at Fri Jun 17 07:07:00 2005",
         "connection from <*> (<*>) at <*>"),
        ("auth failure; logname= uid=0 ruser= rhost=h", "auth failure; logname=<*> uid=<*> ruser=<*> rhost=<*>"),
        ("451 bytes (0.44 KB) sent, lifetime <1 sec", "<*> sent, lifetime <*>"),
        ("open through proxy p.example.com:5070 SOCKS5", "open through proxy <*> SOCKS5"),
        # A number and its unit are one value, whichever the unit.
        ("stored (estimated size 93.0 B, free 317.1 KB)", "stored (estimated size <*>, free <*>)"),
        ("took 12 ms", "took <*>"), ("took 1.5 s.", "took <*>."),
        # A name before ":" keeps it; a value's own brackets are part of the value.
        ("cancelNotification,index:0", "cancelNotification,index:<*>"),
        ("rejected status:429 code:7", "rejected status:429 code:<*>"),
        ("acquire ws=WorkSource{10113}, uid=1000", "acquire ws=<*>, uid=<*>"),
        # true, false and null are values, alone or after a key.
        ("overlap:false down true x=null", "overlap:<*> down <*> x=<*>"),
        ("login failed user=root tty=ssh status=401", "login failed user=<*> tty=<*> status=401"),
    ],
)  # fmt: skip
def test_masking(message: str, masked: str) -> None:
    assert mask(message) == masked


def test_templates_group_variants_and_keep_codes_apart() -> None:
    m = TemplateMiner()
    a = m.add("Failed to send to user 1: Forbidden: bot was blocked by the user")
    b = m.add("Failed to send to user 22: Forbidden: bot was blocked by the user")
    c = m.add("HTTP error 429: Too Many Requests")
    d = m.add("HTTP error 500: Internal Server Error")
    e = m.add("Connection to db1 lost after 3 retries")
    f = m.add("Connection to db2 lost after 5 retries")
    assert a is b and c is not d and e is f
    assert e.text == "Connection to <*> lost after <*> retries"
    n = len(m)
    for line in ["Failed to send to user 3: Forbidden: bot was blocked by the user"] * 100:
        m.add(line)
    assert len(m) == n  # re-feeding never adds patterns
    assert a.count == 102


def test_a_message_that_starts_with_a_dotted_name_meets_its_like() -> None:
    # The first tokens pick where in the tree a message looks for its template: a
    # package or host name there must not keep two messages of one event apart.
    m = TemplateMiner()
    a = m.add("com.apple.CacheDelete.daily: the start time isn't for 12119 seconds. Ignoring.")
    b = m.add("com.apple.Safari.Update: the start time isn't for 2450 seconds. Ignoring.")
    c = m.add("start time isn't known yet for com.apple.Safari.Update, ignoring")
    assert a is b and c is not a
    assert a.text == "<*> the start time isn't for <*>. Ignoring."


def test_garbage_never_crashes_and_is_counted() -> None:
    good = b"2026-11-30 08:00:01,000 - bot - ERROR - real error 1\n"
    data = (
        good * 5
        + b"\xff\xfe\x00\x01 binary \x00garbage \xc3\x28\n"
        + b'{"event": "truncated json", "level": "err\n'
        + b"A" * (10 * 1024 * 1024) + b" ERROR in a 10 MB line\n"
        + b"9999-12-31 23:59:59,000 - bot - ERROR - far future 1\n"
        + b"ts=2026-11-30T08:00:01Z level=error msg=\"logfmt in the middle\"\n"
        + good
    )  # fmt: skip
    scan = scan_errors(io.BytesIO(data))
    assert scan.lines == 11
    texts = {p.template.text for p in scan.patterns.top()}
    assert "real error <*>" in texts and "far future <*>" in texts
    assert "logfmt in the middle" in texts
    assert scan.patterns.records >= 8
    assert scan.unparsed >= 1  # the garbage lines, counted, shown as such


def test_windows_split_now_from_before() -> None:
    w = Window(since=100.0, until=200.0)
    got = [w.where(t) for t in (None, 150.0, 50.0, 0.0, -1.0, 250.0)]
    assert got == ["now", "now", "previous", "previous", None, None]


def test_remembering_digit_shapes_groups_exactly_as_masking_every_message() -> None:
    import random

    from botwatch.logs.templates import TemplateMiner

    rng = random.Random(11)
    shapes = [
        "HTTP error {code}: retry after {d} while sending batch {n}",
        "error {code} after {code} ms for user {n}", "status={code} took {n}ms",
        "{code} Too Many Requests for chat {n}", "worker {n} on SOCKS{d} port {n}",
        "connect to 10.0.{n}.{d}:5432 failed after {d} tries", "HTTP error {d}٢{e}: retry",
        "took {m} ms, then error {code}: retrying",
        "got {n} rows in {d}.{n}s (code {code})", "Failed to send to user {n}: Forbidden",
    ]  # fmt: skip
    cached, plain = TemplateMiner(), TemplateMiner(shapes=False)
    for _ in range(5000):
        message = rng.choice(shapes).format(
            code=rng.choice([200, 404, 429, 500, 503, 777, 99, 4290]),
            n=rng.choice([rng.randrange(1000), rng.randrange(10**9)]), d=rng.randrange(10),
            e=rng.randrange(10), m=rng.choice([429, 500, 300]))  # fmt: skip
        assert cached.add(message).id == plain.add(message).id, message
    # The orders that would fool a careless key: a code's digits found twice, and
    # digits of another script (which masking reads as digits too).
    for message in ("took 429 ms, then error 429: x", "took 300 ms, then error 500: x",
                    "took 300 ms, then error 429: x", "HTTP error 4٢9: y", "HTTP error 5٢0: y",
                    "HTTP error 9٢9: y", "HTTP error 5٢0: y"):  # fmt: skip
        assert cached.add(message).id == plain.add(message).id, message
    assert [t.text for t in cached] == [t.text for t in plain]


def test_messages_that_differ_only_in_digits_skip_masking_but_never_cross_codes() -> None:
    import random

    from botwatch.logs.masking import WILDCARD, tokens
    from botwatch.logs.templates import TemplateMiner

    rng = random.Random(3)
    shapes = ["HTTP error {code}: retry batch {n}", "user {n} got status {code} after {n} ms",
              "worker {n} on SOCKS{d} port {n}", "{code} Too Many Requests for chat {n}"]  # fmt: skip
    miner = TemplateMiner()
    for _ in range(3000):
        message = rng.choice(shapes).format(
            code=rng.choice([200, 404, 429, 500, 503]), n=rng.randrange(10**6),
            d=rng.choice([4, 5]))  # fmt: skip
        t = miner.add(message)
        own = tokens(message)
        # The template a message joins agrees with its own masking at every kept token.
        assert len(t.tokens) == len(own)
        assert all(a in (WILDCARD, b) for a, b in zip(t.tokens, own, strict=True)), message
    texts = {t.text for t in miner}
    # However alike the rest of the message, two status codes are two patterns.
    for code in (200, 404, 429, 500, 503):
        assert f"HTTP error {code}: retry batch <*>" in texts
        assert f"user <*> got status {code} after <*>" in texts
        assert f"{code} Too Many Requests for chat <*>" in texts


def test_a_status_code_never_joins_a_position_other_words_made_variable() -> None:
    from botwatch.logs.templates import TemplateMiner

    words = ["foo", "bar", "baz", "qux"]  # more than MAX_WORDS: values, not event names
    for order in ([*words, "429", "500", "429"], ["429", *words, "500", "429"]):
        miner = TemplateMiner()
        for word in order:
            miner.add(f"HTTP error {word}: retry")
        # The words are one pattern; 429 and 500 stay apart, whichever came first
        # (a code joining the widened position would merge every code into it).
        assert sorted(t.text for t in miner) == [
            "HTTP error 429: retry", "HTTP error 500: retry", "HTTP error <*> retry",
        ]  # fmt: skip


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kathmandu", "America/St_Johns",
                                  "Australia/Lord_Howe", "Pacific/Chatham", "Africa/Monrovia"])  # fmt: skip
def test_hour_of_day_agrees_with_the_zone_database(zone: str) -> None:
    import random
    from datetime import datetime

    from botwatch.logs.formats import HourOfDay

    tz = ZoneInfo(zone)
    hour = HourOfDay(tz)
    rng = random.Random(zone)
    # Random times from 1906 to 2033, and every minute around St John's 2008 change
    # (at 00:01 local time, inside a quarter hour).
    times = [rng.uniform(-2e9, 2e9) for _ in range(20_000)]
    times += [1205032800 + 60 * i + 30 for i in range(120)]
    for ts in times:
        assert hour(ts) == datetime.fromtimestamp(ts, tz).hour, ts
