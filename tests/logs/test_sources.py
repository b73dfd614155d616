"""Named log sources, read from real child processes: stand-in ``journalctl``,
``docker`` and ``railway`` executables first on PATH record their arguments and print
what the real tools print."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from botwatch.errors import LogSourceError
from botwatch.logs.read import MAX_LINE, LineReader
from botwatch.logs.sources import (
    CommandFollower,
    Source,
    open_command,
    parse_source,
    pm2_log_paths,
)
from botwatch.logs.wrappers import Unwrapper

PRELUDE = f"""#!{sys.executable}
import json, os, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "argv.jsonl"), "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
RUN = sum(1 for _ in open(os.path.join(HERE, "argv.jsonl")))
def out(s):
    sys.stdout.write(s + "\\n"); sys.stdout.flush()
def err(s):
    sys.stderr.write(s + "\\n"); sys.stderr.flush()
def entry(message, stamp, priority="6"):
    # journalctl -o json as systemd < 252 writes it ("KEY" : "value")
    return json.dumps({{"__CURSOR": "s=6c1f;i=%x" % stamp, "__REALTIME_TIMESTAMP": str(stamp),
                       "PRIORITY": priority, "_SYSTEMD_UNIT": "bot.service",
                       "MESSAGE": message}}, separators=(", ", " : "))
def wait_for(name):
    for _ in range(3000):
        if os.path.exists(os.path.join(HERE, name)):
            return
        time.sleep(0.01)
"""

JOURNALCTL_FAILS = """
err("No journal files were found.")
sys.exit(1)
"""


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory first on PATH, for the stand-ins."""
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ['PATH']}")
    return d


def standin(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(PRELUDE + textwrap.dedent(body))
    path.chmod(0o755)


def argvs(bin_dir: Path) -> list[list[str]]:
    path = bin_dir / "argv.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def poll_until(
    f: CommandFollower, done: Callable[[list[bytes]], bool], timeout: float = 20.0
) -> list[bytes]:
    """Poll until ``done(lines so far)``; the deadline is only there to fail, not to time."""
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while not done(got):
        assert time.monotonic() < deadline, f"gave up: {got[-5:]!r}, {f.last_error!r}"
        got += f.poll()
        time.sleep(0.005)
    return got


def reported(f: CommandFollower) -> Callable[[list[bytes]], bool]:
    """Whether ``f`` has reported an error yet."""
    return lambda got: f.last_error is not None


class Clock:
    """A clock the test moves."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- names


@pytest.mark.parametrize(
    ("name", "kind", "target", "argv"),
    [
        ("./logs/bot.log", "file", "./logs/bot.log", ()),
        ("/var/log/bot.log", "file", "/var/log/bot.log", ()),
        ("C:\\logs\\bot.log", "file", "C:\\logs\\bot.log", ()),
        ("logs/x:y.log", "file", "logs/x:y.log", ()),
        ("./xyz:bot.log", "file", "./xyz:bot.log", ()),
        ("cmd:railway logs --follow", "cmd", "railway logs --follow",
         ("railway", "logs", "--follow")),
        ("cmd: sh -c 'tail -F a.log | grep -v DEBUG'", "cmd", "sh -c 'tail -F a.log | grep -v DEBUG'",
         ("sh", "-c", "tail -F a.log | grep -v DEBUG")),
        ("journald:bot@2.service", "journald", "bot@2.service", ()),
        ("docker:bot-1", "docker", "bot-1", ()),
        ("pm2:my bot", "pm2", "my bot", ()),
    ],
)  # fmt: skip
def test_names_of_sources(name: str, kind: str, target: str, argv: tuple[str, ...]) -> None:
    src = parse_source(name)
    assert (src.kind, src.target, src.argv) == (kind, target, argv)
    assert parse_source(str(src)) == src


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "empty log source"),
        ("cmd:", "cmd: needs a command after the colon, e.g. 'cmd:railway logs --follow'"),
        ("cmd:   ", "needs a command"),
        ("cmd:''", "needs a command"),
        ("xyz:bot", "unknown log source 'xyz:'; write \"cmd:COMMAND\""),
        ("xyz:bot", "or ./xyz:bot for a file whose name has a colon"),
        ("Docker:bot", 'did you mean "docker:"?'),
        ("jornald:bot", 'did you mean "journald:"?'),
        ("cmd:railway logs --service 'bot", "close the quote"),
        ("journald:", "journald: needs a systemd unit after the colon"),
        ("docker:-v", "cannot start with '-'"),
        ("docker:my bot", "or hold spaces"),
        ("pm2:", "pm2 app name"),
    ],
)  # fmt: skip
def test_bad_names_say_what_to_write(name: str, says: str) -> None:
    with pytest.raises(LogSourceError) as e:
        parse_source(name)
    assert says in str(e.value)


def test_command_lines() -> None:
    j, d = Source("journald", "bot.service"), Source("docker", "bot")
    base = ["journalctl", "-u", "bot.service", "-o", "json", "--no-pager"]
    assert j.command() == base
    assert j.command(follow=True, from_now=True) == [*base, "--follow", "--lines=0"]
    assert j.command(follow=True, since=1700000000.9) == [
        *base,
        "--follow",
        "--since",
        "@1700000000",
    ]
    assert d.command() == ["docker", "logs", "bot"]
    assert d.command(follow=True, from_now=True) == [
        "docker",
        "logs",
        "--follow",
        "--tail",
        "0",
        "bot",
    ]
    assert d.command(since=1700000000.9) == ["docker", "logs", "--since", "1700000000", "bot"]
    assert parse_source("cmd:railway logs").command(follow=True) == ["railway", "logs"]
    with pytest.raises(ValueError):
        Source("pm2", "bot").command()


# -- read once


def test_a_command_once_stdout_and_stderr_merged(bin_dir: Path) -> None:
    standin(bin_dir, "railway", """
        out("2026-11-30 08:00:01 INFO bot: started")
        err("2026-11-30 08:00:02 ERROR bot: update failed")
        sys.stdout.write("2026-11-30 08:00:03 INFO bot: a line in ")
        sys.stdout.flush()
        err("2026-11-30 08:00:04 WARNING bot: slow")
        out("two writes")
        sys.stdout.write("no newline at the end")
    """)  # fmt: skip
    with open_command(parse_source("cmd:railway logs --service 'my bot'")) as stream:
        lines = list(LineReader(stream).lines_of())
    assert sorted(lines) == sorted([
        "2026-11-30 08:00:01 INFO bot: started",
        "2026-11-30 08:00:02 ERROR bot: update failed",
        "2026-11-30 08:00:03 INFO bot: a line in two writes",  # not cut by stderr's line
        "2026-11-30 08:00:04 WARNING bot: slow",
        "no newline at the end",
    ])  # fmt: skip
    assert argvs(bin_dir) == [["railway", "logs", "--service", "my bot"]]


def test_journald_once_since_a_time(bin_dir: Path) -> None:
    standin(bin_dir, "journalctl", """
        err("Hint: You are currently not seeing messages from other users and the system.")
        out(entry("bot started", 1700000001000000))
        out(entry("ERROR:bot:update 42 failed", 1700000002500000, "3"))
        out(entry("done", 1700000003000000))
    """)  # fmt: skip
    with open_command(parse_source("journald:bot.service"), since=1700000000.75) as stream:
        raw = list(LineReader(stream).lines_of())
    assert argvs(bin_dir) == [
        ["journalctl", "-u", "bot.service", "-o", "json", "--no-pager", "--since", "@1700000000"]
    ]
    unwrapper = Unwrapper()
    got = [unwrapper.unwrap(x) for x in raw]  # journalctl's own stderr is not a log line
    assert [(u.line, u.ts, u.level) for u in got if u is not None] == [
        ("bot started", 1700000001.0, "info"),
        ("ERROR:bot:update 42 failed", 1700000002.5, "error"),
        ("done", 1700000003.0, "info"),
    ]


def test_docker_once_since_a_time_stderr_first(bin_dir: Path) -> None:
    standin(bin_dir, "docker", """
        err("ERROR:bot:Traceback follows")  # the container's stderr, where logging writes
        out("INFO:bot:polling")
    """)  # fmt: skip
    with open_command(parse_source("docker:bot"), since=1700000000.2) as stream:
        data = stream.read()
    assert sorted(data.splitlines()) == [b"ERROR:bot:Traceback follows", b"INFO:bot:polling"]
    assert argvs(bin_dir) == [["docker", "logs", "--since", "1700000000", "bot"]]


def test_a_missing_program_says_to_put_it_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LogSourceError) as e, open_command(parse_source("docker:bot")):
        pass
    assert str(e.value) == "docker:bot: docker not found: it must be installed and on PATH"


def test_a_failure_with_no_output_is_an_error(bin_dir: Path) -> None:
    standin(bin_dir, "docker", """
        err("Error response from daemon: No such container: nosuch")
        sys.exit(1)
    """)  # fmt: skip
    with pytest.raises(LogSourceError) as e, open_command(parse_source("docker:nosuch")) as s:
        s.read()
    assert str(e.value) == (
        "docker:nosuch: docker exited 1 without output: "
        "Error response from daemon: No such container: nosuch"
    )
    standin(bin_dir, "railway", """
        err("Error: Unauthorized.")
        err("Please login with `railway login`")
        sys.exit(2)
    """)  # fmt: skip
    with pytest.raises(LogSourceError) as e, open_command(parse_source("cmd:railway logs")) as s:
        s.read()
    assert str(e.value) == (
        "cmd:railway logs: railway exited 2 without output:\n"
        "  Error: Unauthorized.\n  Please login with `railway login`"
    )


def test_a_failure_after_output_is_read_to_its_end(bin_dir: Path) -> None:
    standin(bin_dir, "railway", """
        out("INFO bot: one")
        err("Error: connection reset")
        sys.exit(1)
    """)  # fmt: skip
    with open_command(parse_source("cmd:railway logs")) as stream:
        assert sorted(stream.read().splitlines()) == [b"Error: connection reset", b"INFO bot: one"]


def test_leaving_early_kills_the_command(bin_dir: Path) -> None:
    standin(bin_dir, "railway", """
        open(os.path.join(HERE, "pid"), "w").write(str(os.getpid()))
        out("INFO bot: one")
        time.sleep(60)
    """)  # fmt: skip
    with open_command(parse_source("cmd:railway logs --follow")) as stream:
        assert stream.readline() == b"INFO bot: one\n"
    pid = int((bin_dir / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped


# -- follow


def test_follower_lines_across_polls_and_a_partial_line(bin_dir: Path) -> None:
    standin(bin_dir, "railway", """
        sys.stdout.write("first\\nhel")
        sys.stdout.flush()
        wait_for("go")
        out("lo")
        out("last")
        wait_for("stop")
    """)  # fmt: skip
    f = CommandFollower(parse_source("cmd:railway logs --follow"))
    try:
        got = poll_until(f, lambda got: b"first" in got)
        assert got == [b"first"]
        for _ in range(20):
            assert f.poll() == []  # "hel" is not a line yet
        (bin_dir / "go").touch()
        got += poll_until(f, lambda more: b"last" in more)
        assert got == [b"first", b"hello", b"last"]
        assert f.last_error is None and f.restarts == 0
    finally:
        f.close()
    assert f.poll() == []
    assert argvs(bin_dir) == [["railway", "logs", "--follow"]]


def test_a_cmd_restarted_does_not_hand_out_the_history_it_prints_again(bin_dir: Path) -> None:
    # As railway/heroku/pm2 do: the last lines first, then what is new; then it exits.
    standin(bin_dir, "railway", """
        history = [f"2026-11-30 08:00:0{i},000 - bot - ERROR - boom {i}" for i in range(RUN + 2)]
        for line in history[-3:]:
            out(line)
        sys.exit(1)
    """)  # fmt: skip
    clock = Clock(100.0)
    f = CommandFollower(parse_source("cmd:railway logs --follow"), clock=clock)
    try:
        got = poll_until(f, lambda got: f.last_error is not None and f.restarts == 0)
        for run in (2, 3):
            clock.t += 60
            new = f"boom {run + 1}".encode()
            got += poll_until(f, lambda got, new=new: f.last_error is not None and
                              any(x.endswith(new) for x in got))  # fmt: skip
    finally:
        f.close()
    # Each line once: boom 0-2 from the first run, then only the new one of each run.
    assert [x.rsplit(b" ", 1)[1] for x in got] == [b"0", b"1", b"2", b"3", b"4"]
    # A new follower (botwatch restarted) given the old one's place drops the replay too.
    saved = f.resume
    assert saved is not None and saved.startswith("lines=")
    again = CommandFollower(parse_source("cmd:railway logs --follow"), resume=saved, clock=clock)
    try:
        more = poll_until(again, lambda got: again.last_error is not None)
    finally:
        again.close()
    assert more == [b"2026-11-30 08:00:05,000 - bot - ERROR - boom 5"]


def test_follower_restarts_docker_with_backoff_and_resumes_exactly(bin_dir: Path) -> None:
    standin(bin_dir, "docker", """
        assert "--timestamps" in sys.argv
        if RUN > 1:  # --since is inclusive: the last line read comes again
            out(f"2026-11-30T08:00:0{RUN - 1}.5Z INFO:bot:run {RUN - 1}")
        out(f"2026-11-30T08:00:0{RUN}.5Z INFO:bot:run {RUN}")
        err("error from daemon in stream: Error grabbing logs: unexpected EOF")
        sys.exit(1)
    """)  # fmt: skip
    clock, wall = Clock(100.0), Clock(1700000000.5)
    f = CommandFollower(parse_source("docker:bot"), clock=clock, wall=wall)
    try:
        got = poll_until(f, lambda got: b"INFO:bot:run 1" in got and f.last_error is not None)
        assert f.last_error == (
            "docker exited 1: error from daemon in stream: Error grabbing logs: unexpected EOF"
        )
        assert f.resume == "ts=2026-11-30T08:00:01.500000000Z"
        clock.t = 100.999
        assert f.poll() == [] and f.restarts == 0
        clock.t = 101.0
        got += poll_until(f, lambda got: b"INFO:bot:run 2" in got and f.last_error is not None)
        assert f.restarts == 1
        clock.t = 102.999  # the second wait is twice the first
        assert f.poll() == [] and f.restarts == 1
        clock.t = 103.0
        f.poll()
        assert f.restarts == 2
        poll_until(f, lambda got: len(argvs(bin_dir)) == 3)
    finally:
        f.close()
    # docker's own complaint shares stderr with the container's: after stdout has
    # spoken it cannot be told apart, and is a line like the others. The line a
    # restart gets again is dropped; the time docker put before each line is gone.
    eof = b"error from daemon in stream: Error grabbing logs: unexpected EOF"
    assert got == [b"INFO:bot:run 1", eof, b"INFO:bot:run 2", eof]
    base = ["docker", "logs", "--follow", "--timestamps"]
    assert argvs(bin_dir) == [
        [*base, "--tail", "0", "bot"],
        [*base, "--since", "2026-11-30T08:00:01.500000000Z", "bot"],
        [*base, "--since", "2026-11-30T08:00:02.500000000Z", "bot"],
    ]


def test_a_new_docker_follower_resumes_where_the_old_one_was(bin_dir: Path) -> None:
    standin(bin_dir, "docker", """
        out("2026-11-30T08:00:01.5Z INFO:bot:already read")
        out("2026-11-30T08:00:01.500000001Z INFO:bot:new")
        wait_for("stop")
    """)  # fmt: skip
    f = CommandFollower(parse_source("docker:bot"), resume="ts=2026-11-30T08:00:01.5Z")
    try:
        assert poll_until(f, lambda got: b"INFO:bot:new" in got) == [b"INFO:bot:new"]
    finally:
        f.close()
    assert argvs(bin_dir)[0][-3:] == ["--since", "2026-11-30T08:00:01.500000000Z", "bot"]


def test_follower_resumes_journald_after_the_last_entry(bin_dir: Path) -> None:
    standin(bin_dir, "journalctl", """
        out(entry(f"run {RUN}", 1700000123456789 + RUN * 1000000))
    """)  # fmt: skip
    clock = Clock(0.0)
    f = CommandFollower(parse_source("journald:bot.service"), clock=clock, wall=Clock(1.8e9))
    try:
        got = poll_until(f, lambda got: bool(got) and f.last_error is not None)
        assert f.last_error == "journalctl exited 0"
        assert f.since == 1700000124.456789
        cursor = f"s=6c1f;i={1700000124456789:x}"
        assert f.resume == f"cursor={cursor}"
        clock.t = 1.0
        got += poll_until(f, lambda got: len(got) == 1 and f.last_error is not None)
    finally:
        f.close()
    assert [json.loads(x)["MESSAGE"] for x in got] == ["run 1", "run 2"]
    base = ["journalctl", "-u", "bot.service", "-o", "json", "--no-pager", "--follow"]
    assert argvs(bin_dir) == [[*base, "--lines=0"], [*base, f"--after-cursor={cursor}"]]
    # A follower made after a restart of botwatch starts there too.
    again = CommandFollower(parse_source("journald:bot.service"), resume=f"cursor={cursor}")
    try:
        poll_until(again, lambda got: len(argvs(bin_dir)) == 3)
    finally:
        again.close()
    assert argvs(bin_dir)[2] == [*base, f"--after-cursor={cursor}"]


def test_follower_given_a_time_starts_there(bin_dir: Path) -> None:
    standin(bin_dir, "journalctl", "wait_for('stop')\n")
    f = CommandFollower(parse_source("journald:bot.service"), since=1700000000.0)
    try:
        poll_until(f, lambda got: len(argvs(bin_dir)) == 1)
    finally:
        f.close()
    assert argvs(bin_dir)[0][-2:] == ["--since", "@1700000000"]


def test_follower_failures_are_reported_never_raised(
    bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin(bin_dir, "journalctl", JOURNALCTL_FAILS)
    standin(bin_dir, "docker", """
        err("Error response from daemon: No such container: nosuch")
        sys.exit(1)
    """)  # fmt: skip
    clock = Clock(0.0)
    for name, error in [
        ("journald:bot.service", "journalctl exited 1: No journal files were found."),
        ("docker:nosuch", "docker exited 1: Error response from daemon: No such container: nosuch"),
    ]:  # fmt: skip
        f = CommandFollower(parse_source(name), clock=clock)
        try:
            got = poll_until(f, reported(f))
        finally:
            f.close()
        assert got == []  # the tool's complaint is not the bot's log
        assert f.last_error == error

    monkeypatch.setenv("PATH", str(bin_dir.parent))
    f = CommandFollower(parse_source("docker:bot"), clock=clock)
    assert f.poll() == []
    assert f.last_error == "docker:bot: docker not found: it must be installed and on PATH"
    clock.t = 1.0
    assert f.poll() == [] and f.restarts == 1
    f.close()


def test_follower_cuts_a_huge_line(bin_dir: Path) -> None:
    standin(bin_dir, "railway", f"""
        sys.stdout.buffer.write(b"x" * {MAX_LINE + 5} + b"\\nnext\\n")
        sys.stdout.flush()
        wait_for("stop")
    """)  # fmt: skip
    f = CommandFollower(parse_source("cmd:railway logs"))
    try:
        got = poll_until(f, lambda got: b"next" in got)
    finally:
        f.close()
    assert got[0] == b"x" * MAX_LINE and got[-1] == b"next"
    assert set(b"".join(got[1:-1])) <= {ord("x")} and len(b"".join(got[1:-1])) <= 5
    assert f.cut == 1


def test_a_file_is_not_followed_as_a_command() -> None:
    with pytest.raises(ValueError):
        CommandFollower(parse_source("pm2:bot"))


# -- pm2


def test_pm2_log_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "pm2" / "logs"
    logs.mkdir(parents=True)
    for name in ("my-bot-2-out-10.log", "my-bot-2-out-2.log", "my-bot-2-error-2.log",
                 "my-bot-2-out__2026-11-30_00-00-00.log", "other-out-1.log"):  # fmt: skip
        (logs / name).touch()
    monkeypatch.setenv("PM2_HOME", str(tmp_path / "pm2"))
    assert pm2_log_paths("my_bot 2") == [
        str(logs / "my-bot-2-out.log"),
        str(logs / "my-bot-2-error.log"),
        str(logs / "my-bot-2-out-2.log"),  # cluster mode: one file per process id
        str(logs / "my-bot-2-out-10.log"),
        str(logs / "my-bot-2-error-2.log"),
    ]
    monkeypatch.delenv("PM2_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pm2_log_paths("cryptomentor") == [
        str(tmp_path / "home" / ".pm2" / "logs" / "cryptomentor-out.log"),
        str(tmp_path / "home" / ".pm2" / "logs" / "cryptomentor-error.log"),
    ]
    assert pm2_log_paths("a.b-c", env={"PM2_HOME": "/srv/pm2"}) == [
        "/srv/pm2/logs/a.b-c-out.log",
        "/srv/pm2/logs/a.b-c-error.log",
    ]


def test_replay_memory_is_bounded_and_survives_a_damaged_save() -> None:
    from botwatch.logs.replay import ReplayFilter

    r = ReplayFilter(remember=3)
    assert r.new([b"a", b"b", b"c", b"d"]) == [b"a", b"b", b"c", b"d"]
    r.started()
    # "a" fell out of the memory (3 lines): history that old is read again; the
    # remembered rest is dropped until the first line that is new.
    assert r.new([b"a"]) == [b"a"]
    r.started()
    assert r.new([b"c", b"d", b"a", b"e", b"d"]) == [b"e", b"d"]
    assert r.dropped == 3
    state = r.state
    assert state is not None and len(state) == 3 * 16
    damaged = ReplayFilter(state[:16] + "zz" + state[18:], remember=3)
    damaged.started()
    assert damaged.new([b"a", b"x"]) == [b"x"]  # the digest before the damage still counts
    fresh = ReplayFilter("not hex at all")
    fresh.started()
    assert fresh.new([b"a"]) == [b"a"]
