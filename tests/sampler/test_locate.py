"""Finding bot processes: pidfiles (stale, foreign, recycled), patterns, the run command."""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from botwatch.config import LoadedConfig
from botwatch.errors import ProcessNotFound
from botwatch.sampler import Located, can_locate, command_matches, find_process, locator

if TYPE_CHECKING:
    from conftest import Children

MakeConfig = Callable[[dict[str, object]], LoadedConfig]


def find(loaded: LoadedConfig, bot: str = "b") -> Located:
    return find_process(loaded.config.bots[bot], loaded)


def not_found(loaded: LoadedConfig) -> str:
    with pytest.raises(ProcessNotFound) as e:
        find(loaded)
    return str(e.value)


def write_pid(path: Path, pid: int | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")
    return path


def wait_zombie(pid: int) -> None:
    deadline = time.monotonic() + 10
    while psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "child did not exit"
        time.sleep(0.01)


# --- pidfile -------------------------------------------------------------------------


def test_pidfile_finds_the_live_process(
    children: Children, make_config: MakeConfig, tmp_path: Path
) -> None:
    child = children.spawn()
    write_pid(tmp_path / "bot.pid", child.pid)
    found = find(make_config({"b": {"process": {"pidfile": "bot.pid"}}}))
    assert (found.pid, found.how, found.source) == (child.pid, "pidfile", str(tmp_path / "bot.pid"))
    assert found.create_time == psutil.Process(child.pid).create_time()


def test_relative_pidfile_resolves_against_the_config_folder(
    children: Children, make_config: MakeConfig, tmp_path: Path
) -> None:
    child = children.spawn()
    write_pid(tmp_path / "run" / "bot.pid", child.pid)
    assert find(make_config({"b": {"process": {"pidfile": "run/bot.pid"}}})).pid == child.pid


def test_missing_pidfile(make_config: MakeConfig, tmp_path: Path) -> None:
    reason = not_found(make_config({"b": {"process": {"pidfile": "nope.pid"}}}))
    assert reason == f"pidfile {tmp_path / 'nope.pid'} does not exist"


@pytest.mark.parametrize(
    ("content", "shown"), [("abc", "'abc'"), ("", "'nothing'"), ("-5", "'-5'"), ("0", "'0'")]
)
def test_pidfile_without_a_pid(
    content: str, shown: str, make_config: MakeConfig, tmp_path: Path
) -> None:
    (tmp_path / "bot.pid").write_text(content)
    reason = not_found(make_config({"b": {"process": {"pidfile": "bot.pid"}}}))
    assert reason == f"pidfile {tmp_path / 'bot.pid'} does not hold a pid (found {shown})"


def test_pidfile_of_a_dead_process(
    children: Children, make_config: MakeConfig, tmp_path: Path
) -> None:
    pid = children.dead_pid()
    write_pid(tmp_path / "bot.pid", pid)
    reason = not_found(make_config({"b": {"process": {"pidfile": "bot.pid"}}}))
    assert reason == f"pid {pid} in {tmp_path / 'bot.pid'} is not running"


def test_zombie_counts_as_dead(children: Children, make_config: MakeConfig, tmp_path: Path) -> None:
    child = children.spawn(code="pass")
    wait_zombie(child.pid)  # exited, not reaped yet: the pid is still there
    write_pid(tmp_path / "bot.pid", child.pid)
    reason = not_found(make_config({"b": {"process": {"pidfile": "bot.pid"}}}))
    assert reason.startswith(f"pid {child.pid} in {tmp_path / 'bot.pid'} is not running")


def test_pidfile_pointing_at_a_foreign_process(
    children: Children, make_config: MakeConfig, tmp_path: Path
) -> None:
    other = children.spawn(marker=children.marker())
    write_pid(tmp_path / "bot.pid", other.pid)
    reason = not_found(
        make_config({"b": {"process": {"pidfile": "bot.pid", "match": "cryptomentor"}}})
    )
    assert reason.startswith(
        f"pid {other.pid} in {tmp_path / 'bot.pid'} belongs to another process"
    )
    assert "does not match /cryptomentor/" in reason


def test_pidfile_checked_with_match(
    children: Children, make_config: MakeConfig, tmp_path: Path
) -> None:
    marker = children.marker()
    child = children.spawn(marker=marker)
    write_pid(tmp_path / "bot.pid", child.pid)
    found = find(make_config({"b": {"process": {"pidfile": "bot.pid", "match": marker}}}))
    assert (found.pid, found.how) == (child.pid, "pidfile")


def test_pidfile_checked_with_the_run_command(
    children: Children, make_config: MakeConfig, tmp_path: Path
) -> None:
    child = children.spawn()
    write_pid(tmp_path / "bot.pid", child.pid)
    # Only the first words count: a wrapper adding flags doesn't make the bot foreign.
    mine = f"{sys.executable} -c {shlex.quote(children.code())} --extra-flag"
    assert (
        find(make_config({"b": {"run": {"command": mine}, "process": {"pidfile": "bot.pid"}}})).pid
        == child.pid
    )
    reason = not_found(
        make_config({"b": {"run": {"command": "node bot.js"}, "process": {"pidfile": "bot.pid"}}})
    )
    assert "belongs to another process" in reason
    assert "is not 'node bot.js'" in reason


def test_recycled_pid_in_a_bare_pidfile(
    children: Children, make_config: MakeConfig, tmp_path: Path
) -> None:
    child = children.spawn()
    pidfile = write_pid(tmp_path / "bot.pid", child.pid)
    # The pidfile was written an hour before this process was born: someone else's pid.
    born = psutil.Process(child.pid).create_time()
    os.utime(pidfile, (born - 3600, born - 3600))
    reason = not_found(make_config({"b": {"process": {"pidfile": "bot.pid"}}}))
    assert reason == (
        f"pid {child.pid} in {pidfile} belongs to another process "
        "(started after the pidfile was written)"
    )


def test_bare_pidfile_written_after_start_is_trusted(
    children: Children, make_config: MakeConfig, tmp_path: Path
) -> None:
    child = children.spawn()
    pidfile = write_pid(tmp_path / "bot.pid", child.pid)
    born = psutil.Process(child.pid).create_time()
    os.utime(pidfile, (born + 3600, born + 3600))  # rewritten later (e.g. touched): fine
    assert find(make_config({"b": {"process": {"pidfile": "bot.pid"}}})).pid == child.pid


# --- match ---------------------------------------------------------------------------


def test_match_finds_the_right_child_among_several(
    children: Children, make_config: MakeConfig
) -> None:
    markers = [children.marker() for _ in range(3)]
    kids = [children.spawn(marker=m) for m in markers]
    found = find(make_config({"b": {"process": {"match": re.escape(markers[1])}}}))
    assert (found.pid, found.how, found.details) == (kids[1].pid, "match", {"matches": 1})


def test_match_picks_the_parent_of_a_matching_tree(
    children: Children, make_config: MakeConfig
) -> None:
    marker = children.marker()
    worker = f"import time; time.sleep(600)  # {marker}"
    parent = children.spawn(
        f"import subprocess\nws = [subprocess.Popen([sys.executable, '-c', {worker!r}]) "
        "for _ in range(2)]",
        marker=marker,
    )
    found = find(make_config({"b": {"process": {"match": marker}}}))
    assert found.pid == parent.pid
    assert found.details == {"matches": 3}


def test_match_two_separate_copies_takes_the_oldest(
    children: Children, make_config: MakeConfig
) -> None:
    marker = children.marker()
    first = children.spawn(marker=marker)
    children.spawn(marker=marker)
    found = find(make_config({"b": {"process": {"match": marker}}}))
    assert found.pid == first.pid
    assert found.details == {"matches": 2, "separate_trees": 2}


def test_match_never_finds_botwatch_itself(make_config: MakeConfig) -> None:
    me = " ".join(psutil.Process().cmdline())
    try:
        found = find(make_config({"b": {"process": {"match": re.escape(me)}}}))
    except ProcessNotFound:
        return
    assert found.pid != os.getpid()  # a shell that started us may match; we must not


def test_match_nothing(make_config: MakeConfig) -> None:
    reason = not_found(make_config({"b": {"process": {"match": "no-such-bot-[0-9]{40}"}}}))
    assert reason.startswith("no running process matches /no-such-bot-[0-9]{40}/")


def test_pidfile_wins_over_match(
    children: Children, make_config: MakeConfig, tmp_path: Path
) -> None:
    marker = children.marker()
    children.spawn(marker=marker)
    reason = not_found(make_config({"b": {"process": {"pidfile": "gone.pid", "match": marker}}}))
    assert "gone.pid does not exist" in reason


# --- run -----------------------------------------------------------------------------


def test_run_command_with_cwd(children: Children, make_config: MakeConfig, tmp_path: Path) -> None:
    code = children.code(marker=children.marker())
    command = f"{sys.executable} -c {shlex.quote(code)}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    in_a = children.spawn(code=code, cwd=tmp_path / "a")
    in_b = children.spawn(code=code, cwd=tmp_path / "b")
    for p in (in_a, in_b):
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    found = find(make_config({"b": {"run": {"command": command, "cwd": "b"}}}))
    assert (found.pid, found.how) == (in_b.pid, "run")
    reason = not_found(make_config({"b": {"run": {"command": command, "cwd": "elsewhere"}}}))
    assert reason.startswith(f"no running process in {tmp_path / 'elsewhere'} runs ")


def test_run_command_without_cwd(children: Children, make_config: MakeConfig) -> None:
    code = children.code(marker=children.marker())
    child = children.spawn(code=code)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    found = find(make_config({"b": {"run": {"command": f"python -c {shlex.quote(code)}"}}}))
    assert found.pid == child.pid


# --- what can be located -------------------------------------------------------------


def test_controllers_alone_are_not_supported(make_config: MakeConfig) -> None:
    loaded = make_config({"b": {"process": {"systemd": "bot.service"}}})
    assert not can_locate(loaded.config.bots["b"])
    assert locator(loaded.config.bots["b"]) is None
    assert "systemd/pm2/docker controllers are not supported yet" in not_found(loaded)


def test_locator_order(make_config: MakeConfig) -> None:
    loaded = make_config(
        {
            "a": {
                "run": {"command": "python bot.py"},
                "process": {"pidfile": "a.pid", "match": "x"},
            },
            "b": {"run": {"command": "python bot.py"}, "process": {"match": "x", "pm2": "b"}},
            "c": {"run": {"command": "python bot.py"}, "process": {"docker": "c"}},
        }
    )
    bots = loaded.config.bots
    assert locator(bots["a"]) == ("pidfile", "a.pid")
    assert locator(bots["b"]) == ("match", "x")
    assert locator(bots["c"]) == ("run", "python bot.py")


@pytest.mark.parametrize(
    ("command", "cmdline", "expected"),
    [
        ("python -m bot", ["/usr/bin/python3.11", "-m", "bot"], True),
        ("python -m bot", ["/usr/bin/python3", "-m", "other"], False),
        ("python -m bot", ["/usr/bin/python3", "-X", "dev", "-m", "bot", "--debug"], False),
        ("./bot --port 1", ["/srv/bot/bot", "--port", "1", "-v"], True),
        ("python bot.py", ["/bin/sh", "-c", "python bot.py"], True),
        ("python bot.py", ["node", "python", "bot.py"], True),
        ("node bot.js", [], False),
        ("", ["python"], False),
    ],
)
def test_command_matches(command: str, cmdline: list[str], expected: bool) -> None:
    assert command_matches(command, cmdline) is expected
