"""The demo fleet: a fake Telegram API and three demo bots as real child processes.

Layout of the fleet's folder::

    DIR/botwatch.yml                 the config that watches the fleet
    DIR/logs/NAME.log                each bot's log (the previous run's is kept as .1)
    DIR/logs/telegram-fake.log       the fake's output
    DIR/run/NAME.pid                 each bot's pidfile
    DIR/run/NAME.control.json        each bot's fault switches (botwatch.demo.faults)
    DIR/run/NAME.out                 a bot's stdout/stderr (what it printed before logging)
    DIR/run/fleet.json               who supervises the fleet, and where everything is

Every child runs in its own session (process group), so a Ctrl-C in the terminal
reaches only the supervisor, which then stops the bots before the fake they talk to;
stopping is SIGTERM to each group, then SIGKILL after a timeout. The bots also exit by
themselves when the supervisor disappears (the bots' ``--parent-pid``, and
``botwatch.demo._guard`` around the fake).

A bot that exits (the ``crash`` fault) is not restarted: the demo is there to show
botwatch noticing. ``poll()`` reports it once.
"""

from __future__ import annotations

__all__ = ["DEMO_BOTS", "DemoBotSpec", "DemoFleet", "FleetError", "RunningBot"]

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil
import yaml

import botwatch
from botwatch.demo.faults import FaultSettings, write_control
from botwatch.errors import BotwatchError

log = logging.getLogger(__name__)

FAKE_NAME = "telegram-fake"
READY_LINE = "Bot is ready"
_TAIL_LINES = 15


class FleetError(BotwatchError):
    """The demo fleet could not be started (or is already running in that folder)."""


def _gentle_leak() -> FaultSettings:
    settings = FaultSettings()
    settings.leak.on = True
    return settings


@dataclass(frozen=True)
class DemoBotSpec:
    """One bot of the demo: its name, fake token and username, and its starting faults."""

    name: str
    token: str
    username: str
    role: str = "healthy"
    faults: FaultSettings = field(default_factory=FaultSettings)
    extra_args: tuple[str, ...] = ()
    """More ``python -m botwatch.demo.bot`` options, e.g. ``("--health-host", "0.0.0.0")``."""


DEMO_BOTS: tuple[DemoBotSpec, ...] = (
    DemoBotSpec("cryptomentor", "100001:DEMO-cryptomentor-not-a-real-token", "cryptomentor_bot"),
    DemoBotSpec("newsdigest", "100002:DEMO-newsdigest-not-a-real-token", "newsdigest_bot"),
    # The one with faults; it starts with a gentle leak so there is something to see.
    DemoBotSpec(
        "flakybot",
        "100003:DEMO-flakybot-not-a-real-token",
        "flakybot_bot",
        role="faulty",
        faults=_gentle_leak(),
    ),
)


@dataclass(frozen=True)
class RunningBot:
    """Where a started demo bot runs and writes."""

    name: str
    pid: int
    token: str
    health_port: int
    log: Path
    pidfile: Path
    control_file: Path
    role: str

    @property
    def health_url(self) -> str:
        """The bot's ``/health/json``."""
        return f"http://127.0.0.1:{self.health_port}/health/json"


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    output: Path
    log: Path | None = None
    reported: bool = False


class DemoFleet:
    """Starts, watches and stops the demo fleet in ``dir`` (see the module docstring).

    Synchronous on purpose: it only spawns and signals processes, so it works the same
    from a plain script, a pytest fixture or around an asyncio monitor.
    """

    def __init__(
        self,
        dir: Path,
        *,
        bots: Sequence[DemoBotSpec] = DEMO_BOTS,
        python: str = sys.executable,
        start_timeout: float = 20.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.dir = Path(dir).absolute()
        self.specs = tuple(bots)
        self.python = python
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.bots: list[RunningBot] = []
        self.api_url: str | None = None
        self._fake: _Child | None = None
        self._children: dict[str, _Child] = {}
        self._stopping = False

    # -- paths -----------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        """``DIR/botwatch.yml``."""
        return self.dir / "botwatch.yml"

    @property
    def logs_dir(self) -> Path:
        """``DIR/logs``."""
        return self.dir / "logs"

    @property
    def run_dir(self) -> Path:
        """``DIR/run``."""
        return self.dir / "run"

    @property
    def state_file(self) -> Path:
        """``DIR/run/fleet.json``."""
        return self.run_dir / "fleet.json"

    def control_file(self, name: str) -> Path:
        """The fault control file of bot ``name``."""
        return self.run_dir / f"{name}.control.json"

    @property
    def fake_pid(self) -> int | None:
        """The pid of the fake Telegram API process, once started."""
        return self._fake.proc.pid if self._fake else None

    @property
    def pids(self) -> dict[str, int]:
        """Every child's pid by name (the fake is ``telegram-fake``)."""
        out = {FAKE_NAME: self._fake.proc.pid} if self._fake else {}
        return out | {name: c.proc.pid for name, c in self._children.items()}

    # -- start -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the fake and the bots, wait until every health endpoint answers, write
        ``botwatch.yml``. On any failure everything started is stopped again.

        Raises ``FleetError`` naming the bot that failed, with the tail of its log.
        """
        if self._fake is not None:
            raise FleetError("the demo fleet is already started")
        self._refuse_if_running()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        try:
            deadline = time.monotonic() + self.start_timeout
            self.api_url = self._start_fake(deadline)
            ports = _free_ports(len(self.specs))
            for spec, port in zip(self.specs, ports, strict=True):
                self.bots.append(self._start_bot(spec, port))
            self._wait_healthy(deadline)
            self.write_config()
            self._write_state()
        except BaseException:
            self.stop()
            raise

    def _refuse_if_running(self) -> None:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
            pid = int(state["supervisor_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if pid != os.getpid() and psutil.pid_exists(pid):
            raise FleetError(
                f"a demo fleet already runs in {self.dir} (supervisor pid {pid}); "
                "stop it first or use another --dir"
            )

    def _spawn(self, args: list[str], output: Path) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        # Children run the same botwatch as this process, installed or not.
        source_root = str(Path(botwatch.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        with output.open("ab") as out:
            return subprocess.Popen(
                [self.python, *args],
                cwd=self.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own process group: terminal signals reach the supervisor only, and
                # stop() can signal the whole group.
                start_new_session=True,
            )

    def _start_fake(self, deadline: float) -> str:
        ready = self.run_dir / "telegram.url"
        ready.unlink(missing_ok=True)
        output = self.logs_dir / f"{FAKE_NAME}.log"
        # Through the guard: the fake has no --parent-pid of its own, and must not outlive
        # a supervisor that was killed.
        args = ["-m", "botwatch.demo._guard", str(os.getpid()), "botwatch.fakes.telegram"]
        args += ["--port", "0", "--ready-file", str(ready)]
        for spec in self.specs:
            args += ["--bot", f"{spec.token}:{spec.username}"]
        proc = self._spawn(args, output)
        self._fake = _Child(FAKE_NAME, proc, output)
        while True:
            if ready.exists():
                url = ready.read_text(encoding="utf-8").strip()
                if url:
                    log.info("fake Telegram API at %s (pid %d)", url, proc.pid)
                    return url
            if proc.poll() is not None:
                raise FleetError(
                    f"the fake Telegram API exited with code {proc.returncode} while starting"
                    + _tail_section(output)
                )
            if time.monotonic() > deadline:
                raise FleetError(
                    f"the fake Telegram API did not start within {self.start_timeout:g}s"
                    + _tail_section(output)
                )
            time.sleep(0.05)

    def _start_bot(self, spec: DemoBotSpec, port: int) -> RunningBot:
        assert self.api_url is not None
        log_file = self.logs_dir / f"{spec.name}.log"
        if log_file.exists():
            # Keep one previous run, like a rotated log, so the new run starts clean.
            os.replace(log_file, log_file.with_name(log_file.name + ".1"))
        pidfile = self.run_dir / f"{spec.name}.pid"
        pidfile.unlink(missing_ok=True)  # a crashed previous run leaves one behind
        control = self.control_file(spec.name)
        write_control(control, spec.faults)
        output = self.run_dir / f"{spec.name}.out"
        output.write_bytes(b"")
        args = [
            "-m", "botwatch.demo.bot",
            "--name", spec.name,
            "--token", spec.token,
            "--api-base", f"{self.api_url}/bot",
            "--health-port", str(port),
            "--log", str(log_file),
            "--pidfile", str(pidfile),
            "--control-file", str(control),
            "--parent-pid", str(os.getpid()),
            *spec.extra_args,
        ]  # fmt: skip
        proc = self._spawn(args, output)
        self._children[spec.name] = _Child(spec.name, proc, output, log_file)
        log.info("started %s (pid %d), health on port %d", spec.name, proc.pid, port)
        return RunningBot(
            name=spec.name,
            pid=proc.pid,
            token=spec.token,
            health_port=port,
            log=log_file,
            pidfile=pidfile,
            control_file=control,
            role=spec.role,
        )

    def _wait_healthy(self, deadline: float) -> None:
        waiting = {bot.name: bot for bot in self.bots}
        while waiting:
            for name, bot in list(waiting.items()):
                child = self._children[name]
                if child.proc.poll() is not None:
                    raise FleetError(
                        f"demo bot {name} exited with code {child.proc.returncode} while starting"
                        + _tail_section(bot.log)
                        + _tail_section(child.output)
                    )
                if _answers(bot.health_url):
                    del waiting[name]
            if not waiting:
                return
            if time.monotonic() > deadline:
                name, bot = next(iter(waiting.items()))
                raise FleetError(
                    f"demo bot {name} did not answer on {bot.health_url} "
                    f"within {self.start_timeout:g}s"
                    + _tail_section(bot.log)
                    + _tail_section(self._children[name].output)
                )
            time.sleep(0.1)

    # -- config ----------------------------------------------------------------------

    def config_data(self) -> dict[str, Any]:
        """The ``botwatch.yml`` content that watches this fleet (paths relative to DIR)."""
        if self.api_url is None:
            raise FleetError("the demo fleet is not started")
        bots: dict[str, Any] = {}
        for bot in self.bots:
            bots[bot.name] = {
                "kind": "telegram",
                "token": bot.token,
                # The probe builds {api_url}/bot{token}/{method}, so no "/bot" here.
                "api_url": self.api_url,
                "process": {"pidfile": f"run/{bot.pidfile.name}"},
                "health": bot.health_url,
                "ports": [f"127.0.0.1:{bot.health_port}"],
                "logs": [f"logs/{bot.log.name}"],
                "log_freshness": {"max_age": "2m", "ready_line": READY_LINE},
                "limits": {"memory": "300MB"},
                "labels": {"env": "demo", "role": bot.role},
            }
        return {
            "storage": "sqlite:///.botwatch/botwatch.db",
            "defaults": {"interval": "10s"},
            "bots": bots,
        }

    def write_config(self) -> Path:
        """Write ``DIR/botwatch.yml`` and return its path."""
        header = (
            "# Written by `botwatch demo`: watches the demo fleet in this folder.\n"
            "# Relative paths resolve against this file's folder.\n"
        )
        body = yaml.safe_dump(self.config_data(), sort_keys=False, default_flow_style=False)
        self.config_path.write_text(header + body, encoding="utf-8")
        return self.config_path

    def _write_state(self) -> None:
        state = {
            "supervisor_pid": os.getpid(),
            "api_url": self.api_url,
            "fake_pid": self.fake_pid,
            "bots": {
                b.name: {
                    "pid": b.pid,
                    "health": b.health_url,
                    "log": str(b.log),
                    "pidfile": str(b.pidfile),
                    "control_file": str(b.control_file),
                }
                for b in self.bots
            },
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    # -- watch and stop --------------------------------------------------------------

    def poll(self) -> list[tuple[str, int]]:
        """Children that exited since the last call, as ``(name, exit code)``; each once."""
        exited: list[tuple[str, int]] = []
        children = ([self._fake] if self._fake else []) + list(self._children.values())
        for child in children:
            code = child.proc.poll()
            if code is not None and not child.reported:
                child.reported = True
                if not self._stopping:
                    log.info("%s (pid %d) exited with code %d", child.name, child.proc.pid, code)
                exited.append((child.name, code))
        return exited

    def stop(self) -> None:
        """Stop the bots, then the fake: SIGTERM, SIGKILL after ``stop_timeout``; reap all.

        Safe to call twice, or after a failed start.
        """
        self._stopping = True
        bots = list(self._children.values())
        _terminate(bots, self.stop_timeout)
        if self._fake is not None:
            _terminate([self._fake], self.stop_timeout)
        self._children.clear()
        self._fake = None
        (self.run_dir / "telegram.url").unlink(missing_ok=True)
        self.bots = []
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
            if int(state["supervisor_pid"]) == os.getpid():
                self.state_file.unlink()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _terminate(children: Sequence[_Child], timeout: float) -> None:
    for child in children:
        _signal_group(child.proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) ignored SIGTERM; killing it", child.name, child.proc.pid)
            _signal_group(child.proc, signal.SIGKILL)
            child.proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return  # reaped: its pid (and group id) may already belong to someone else
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _free_ports(n: int) -> list[int]:
    # Hold every socket until all are chosen so the n ports differ; the small race with
    # other programs between close and the bot's bind shows up as a clear start error.
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _answers(url: str) -> bool:
    """Whether anything HTTP answers at ``url`` (a 503 counts: the bot is up, if sick)."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as resp:
            resp.read()
        return True
    except urllib.error.HTTPError as e:
        e.close()
        return True
    except (OSError, ValueError):
        return False


def _tail(path: Path, lines: int = _TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a text file (none if it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def _tail_section(path: Path) -> str:
    lines = _tail(path)
    if not lines:
        return ""
    return f"\n--- last lines of {path} ---\n" + "\n".join(lines)
