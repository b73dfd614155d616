"""Finding a bot's process from its config: a pidfile, a command-line pattern, or ``run``.

Every way of finding a process can be fooled, so each one checks what it found: a
pidfile may point at a pid that died and was handed to another program, a pattern may
match a shell wrapper and its child, or botwatch itself. When nothing trustworthy is
found the caller gets ``ProcessNotFound`` with the exact reason, never a wrong pid.

psutil errors never leave this module: a process vanishing mid-look counts as dead,
one whose details can't be read is skipped (and mentioned in the reason).
"""

from __future__ import annotations

__all__ = ["Located", "can_locate", "command_matches", "find_process", "is_alive", "locator"]

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psutil

from botwatch.errors import ProcessNotFound

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

How = Literal["pidfile", "match", "run"]

# A process normally writes its pidfile after it starts, so its create_time is before
# the file's mtime. Linux derives create_time from the boot time and clock ticks, which
# can be off by a second or so; the slack keeps that noise from looking like a recycled
# pid while a pid really reused minutes or days later is still caught.
_PIDFILE_SLACK = 10.0

# How many leading words of ``run.command`` must appear in a pidfile process's command
# line: enough to tell bots apart, few enough that extra flags added by a wrapper or a
# deploy script don't make the bot look foreign.
_PIDFILE_COMMAND_WORDS = 3


@dataclass(frozen=True, slots=True)
class Located:
    """A bot process that was found, and how.

    ``source`` is what led to it (the pidfile path, the pattern, the command);
    ``details`` holds extras for reports, such as how many processes matched.
    """

    process: psutil.Process
    pid: int
    create_time: float
    how: How
    source: str
    details: dict[str, Any] = field(default_factory=dict)


def can_locate(spec: BotConfig) -> bool:
    """Whether ``spec`` says how to find its process in a way botwatch supports today.

    ``process.systemd``/``pm2``/``docker`` alone don't: their controllers are not
    written yet.
    """
    return locator(spec) is not None


def locator(spec: BotConfig) -> tuple[How, str] | None:
    """Which way ``find_process`` will use for ``spec`` and its source, or None."""
    if spec.process is not None and spec.process.pidfile:
        return "pidfile", spec.process.pidfile
    if spec.process is not None and spec.process.match:
        return "match", spec.process.match
    if spec.run is not None:
        return "run", spec.run.command
    return None


def find_process(spec: BotConfig, loaded: LoadedConfig) -> Located:
    """The live process of the bot described by ``spec``.

    A pidfile wins when given (with ``match`` or ``run.command`` used to check that the
    pid is really the bot's), then ``match``, then ``run``. Raises ``ProcessNotFound``
    with the reason when no live process fits.
    """
    how = locator(spec)
    if how is None:
        raise ProcessNotFound(
            "no pidfile, match or run given; systemd/pm2/docker controllers are not supported yet"
        )
    kind, source = how
    if kind == "pidfile":
        assert spec.process is not None
        return _from_pidfile(
            loaded.resolve(source),
            match=spec.process.match,
            command=spec.run.command if spec.run is not None else None,
        )
    if kind == "match":
        return _from_match(source)
    assert spec.run is not None
    cwd = loaded.resolve(spec.run.cwd) if spec.run.cwd else None
    return _from_run(spec.run.command, cwd)


def command_matches(command: str | Sequence[str], cmdline: Sequence[str]) -> bool:
    """Whether the words of ``command`` appear, in order and adjacent, in ``cmdline``.

    The program word is compared by file name and prefix, so ``python`` matches
    ``/usr/bin/python3.11`` and ``./bot`` matches ``/srv/bot/bot``; the arguments must be
    equal word for word. A command run through a shell (``sh -c "python bot.py"``)
    matches too, since its whole text is one word of the shell's command line.
    """
    words = _split(command) if isinstance(command, str) else list(command)
    if not words or not cmdline:
        return False
    program, args = os.path.basename(words[0]), words[1:]
    for i, word in enumerate(cmdline):
        if (
            os.path.basename(word).startswith(program)
            and list(cmdline[i + 1 : i + 1 + len(args)]) == args
        ):
            return True
    joined = " ".join(words)
    return any(joined in word for word in cmdline[1:] if " " in word)


def _split(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # unbalanced quotes: fall back to plain words
        return command.split()


def is_alive(proc: psutil.Process) -> bool:
    """Still running and not a zombie (a zombie has exited; only its exit status is left).

    psutil compares the start time too, so a pid reused by another program is not alive.
    """
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        # We can't read its status, but it exists.
        return True


def _from_pidfile(path: Path, *, match: str | None, command: str | None) -> Located:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise ProcessNotFound(f"pidfile {path} does not exist") from None
    except IsADirectoryError:
        raise ProcessNotFound(f"pidfile {path} is a directory, not a file") from None
    except OSError as e:
        raise ProcessNotFound(f"cannot read pidfile {path}: {e.strerror}") from None
    word = text.strip().split("\n", 1)[0].strip()
    if not word.isdigit() or int(word) <= 0:
        shown = word[:40] if word else "nothing"
        raise ProcessNotFound(f"pidfile {path} does not hold a pid (found {shown!r})")
    pid = int(word)
    try:
        proc = psutil.Process(pid)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        raise ProcessNotFound(f"pid {pid} in {path} is not running") from None
    except psutil.AccessDenied:
        raise ProcessNotFound(
            f"pid {pid} in {path} cannot be inspected (permission denied)"
        ) from None
    if not is_alive(proc):
        raise ProcessNotFound(f"pid {pid} in {path} is not running (it exited and is a zombie)")
    cmdline: list[str] = []
    try:
        create_time = proc.create_time()
        if match is not None or command is not None:
            cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        raise ProcessNotFound(f"pid {pid} in {path} is not running") from None
    except psutil.AccessDenied:
        raise ProcessNotFound(
            f"pid {pid} in {path} cannot be checked: permission denied reading its command "
            "line; run botwatch as the bot's user"
        ) from None
    foreign = f"pid {pid} in {path} belongs to another process"
    if match is not None:
        if not re.search(match, " ".join(cmdline)):
            raise ProcessNotFound(
                f"{foreign} (its command line {_short(cmdline)} does not match /{match}/)"
            )
    elif command is not None:
        head = _split(command)[:_PIDFILE_COMMAND_WORDS]
        if not command_matches(head, cmdline):
            raise ProcessNotFound(
                f"{foreign} (its command line {_short(cmdline)} is not {' '.join(head)!r})"
            )
    elif create_time > mtime + _PIDFILE_SLACK:
        # Nothing to compare the command line with: go by time. A process born after
        # its pidfile was written can't be the one that wrote it: the pid was reused.
        raise ProcessNotFound(f"{foreign} (started after the pidfile was written)")
    return Located(proc, pid, create_time, "pidfile", str(path))


def _short(cmdline: Sequence[str], limit: int = 80) -> str:
    text = " ".join(cmdline) or "(empty)"
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


@dataclass(slots=True)
class _Candidate:
    proc: psutil.Process
    pid: int
    ppid: int
    create_time: float


def _scan(want: re.Pattern[str] | list[str], cwd: Path | None) -> tuple[list[_Candidate], int]:
    """Live processes whose command line fits ``want`` (a regex or a command), and how
    many could not be read."""
    me = os.getpid()
    found: list[_Candidate] = []
    denied = 0
    for proc in psutil.process_iter(["cmdline", "ppid", "create_time", "status"]):
        info = proc.info
        if proc.pid == me or info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        cmdline = info.get("cmdline")
        if cmdline is None:
            denied += 1
            continue
        if not cmdline:  # kernel threads, and processes that are exiting
            continue
        if isinstance(want, re.Pattern):
            if not want.search(" ".join(cmdline)):
                continue
        elif not command_matches(want, cmdline):
            continue
        if cwd is not None:
            try:
                if Path(proc.cwd()).resolve() != cwd:
                    continue
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            except (psutil.AccessDenied, OSError):
                denied += 1
                continue
        create_time = info.get("create_time")
        if create_time is None:
            continue
        found.append(_Candidate(proc, proc.pid, int(info.get("ppid") or 0), float(create_time)))
    return found, denied


def _pick(found: list[_Candidate]) -> tuple[_Candidate, int]:
    """The oldest candidate whose parent is not itself a candidate, and how many roots.

    A bot that forks workers, or runs under ``sh -c``, matches several times; the top of
    that tree is the bot (the sampler then counts the rest as its children).
    """
    pids = {c.pid for c in found}
    roots = [c for c in found if c.ppid not in pids] or found
    roots.sort(key=lambda c: (c.create_time, c.pid))
    return roots[0], len(roots)


def _denied_note(denied: int) -> str:
    if not denied:
        return ""
    return f" ({denied} process(es) could not be read: permission denied)"


def _result(found: list[_Candidate], how: How, source: str) -> Located:
    best, roots = _pick(found)
    details: dict[str, Any] = {"matches": len(found)}
    if roots > 1:
        # Two separate trees fit: likely two copies of the bot running at once.
        details["separate_trees"] = roots
    return Located(best.proc, best.pid, best.create_time, how, source, details)


def _from_match(pattern: str) -> Located:
    found, denied = _scan(re.compile(pattern), None)
    if not found:
        raise ProcessNotFound(f"no running process matches /{pattern}/{_denied_note(denied)}")
    return _result(found, "match", pattern)


def _from_run(command: str, cwd: Path | None) -> Located:
    words = _split(command)
    if not words:
        raise ProcessNotFound("run.command is empty")
    found, denied = _scan(words, cwd.resolve() if cwd is not None else None)
    if not found:
        where = f" in {cwd}" if cwd is not None else ""
        raise ProcessNotFound(f"no running process{where} runs {command!r}{_denied_note(denied)}")
    return _result(found, "run", command)
