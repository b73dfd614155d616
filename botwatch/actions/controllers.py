"""Process controllers: one interface (start, stop, restart, status) over the tools
operators already run bots with.

Each kind is a small class with one required method, ``argv(verb)``: the command line
for a verb. ``systemd`` (``systemctl``), ``pm2``, ``docker`` and ``command`` (your own
commands per verb) run that command; a non-zero exit is an ``ActionError`` carrying
the tool's own message, a missing tool says which. ``status`` is True when the tool
says the bot runs. Managed children (``run:``) are the supervisor's, not here.
"""

from __future__ import annotations

__all__ = ["CONTROLLERS", "Controller", "communicate", "controller_for", "register"]

import asyncio
import json
import os
import shlex
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar, TypeVar

from botwatch.config.models import BotConfig
from botwatch.errors import ActionError

VERBS = ("start", "stop", "restart", "status")


class Controller(ABC):
    """How to act on one bot through an outside tool."""

    kind: ClassVar[str]

    def __init__(self, bot: str, target: str, *, env: Mapping[str, str] | None = None,
                 timeout: float = 60.0) -> None:  # fmt: skip
        self.bot = bot
        self.target = target
        self.env = dict(os.environ if env is None else env)
        self.timeout = timeout

    @abstractmethod
    def argv(self, verb: str) -> list[str]:
        """The command line for ``verb`` (one of start, stop, restart, status)."""

    def running(self, code: int, out: str) -> bool:
        """From ``status``'s exit code and output: does the bot run?"""
        return code == 0

    async def start(self) -> str:
        """Start the bot; the tool's output."""
        return await self._do("start")

    async def stop(self) -> str:
        """Stop the bot."""
        return await self._do("stop")

    async def restart(self) -> str:
        """Restart the bot."""
        return await self._do("restart")

    async def status(self) -> bool:
        """Whether the bot runs, as the tool sees it."""
        code, out, _ = await self._exec("status")
        return self.running(code, out)

    async def _do(self, verb: str) -> str:
        code, out, err = await self._exec(verb)
        if code != 0:
            why = (err or out).strip().splitlines()
            raise ActionError(
                f"{self.bot}: {verb} failed ({' '.join(self.argv(verb))} exited {code})"
                + (f": {why[-1]}" if why else "")
            )
        return out

    async def _exec(self, verb: str) -> tuple[int, str, str]:
        argv = self.argv(verb)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL, env=self.env,
            )  # fmt: skip
        except FileNotFoundError:
            raise ActionError(f"{self.bot}: {argv[0]} is not installed (or not on PATH)") from None
        except OSError as e:
            raise ActionError(f"{self.bot}: cannot run {argv[0]}: {e.strerror}") from None
        code, out, err = await communicate(proc, self.timeout, f"{self.bot}: {' '.join(argv)}")
        return code, out.decode(errors="replace"), err.decode(errors="replace")


async def communicate(
    proc: asyncio.subprocess.Process, timeout: float, what: str
) -> tuple[int, bytes, bytes]:
    """``proc``'s exit code and output, waiting ``timeout`` seconds at most; past it the
    process is killed and ``ActionError`` says ``what`` took too long."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ActionError(f"{what} took more than {timeout:g}s") from None
    return proc.returncode or 0, out or b"", err or b""


CONTROLLERS: dict[str, type[Controller]] = {}
C = TypeVar("C", bound=type[Controller])


def register(cls: C) -> C:
    """Class decorator adding a controller kind."""
    CONTROLLERS[cls.kind] = cls
    return cls


@register
class Systemd(Controller):
    """``systemctl VERB UNIT``; status is ``systemctl is-active``."""

    kind = "systemd"

    def argv(self, verb: str) -> list[str]:
        """See ``Controller.argv``."""
        if verb == "status":
            return ["systemctl", "is-active", "--quiet", self.target]
        return ["systemctl", verb, self.target]


@register
class Pm2(Controller):
    """``pm2 VERB NAME``; status reads ``pm2 jlist``."""

    kind = "pm2"

    def argv(self, verb: str) -> list[str]:
        """See ``Controller.argv``."""
        return ["pm2", "jlist"] if verb == "status" else ["pm2", verb, self.target]

    def running(self, code: int, out: str) -> bool:
        """Online in ``pm2 jlist``."""
        if code != 0:
            return False
        try:
            apps = json.loads(out)
        except json.JSONDecodeError:
            return False
        return any(
            a.get("name") == self.target and a.get("pm2_env", {}).get("status") == "online"
            for a in apps if isinstance(a, dict)
        )  # fmt: skip


@register
class Docker(Controller):
    """``docker VERB NAME``; status is ``docker inspect`` of ``.State.Running``."""

    kind = "docker"

    def argv(self, verb: str) -> list[str]:
        """See ``Controller.argv``."""
        if verb == "status":
            return ["docker", "inspect", "--format", "{{.State.Running}}", self.target]
        return ["docker", verb, self.target]

    def running(self, code: int, out: str) -> bool:
        """``true`` from docker inspect."""
        return code == 0 and out.strip() == "true"


@register
class Command(Controller):
    """Your own command per verb (``process.commands``); run without a shell."""

    kind = "command"

    def __init__(self, bot: str, target: str, *, commands: Mapping[str, str],
                 env: Mapping[str, str] | None = None, timeout: float = 60.0) -> None:  # fmt: skip
        super().__init__(bot, target, env=env, timeout=timeout)
        self.commands = dict(commands)

    def argv(self, verb: str) -> list[str]:
        """See ``Controller.argv``."""
        if verb not in self.commands:
            if verb == "restart" and "start" in self.commands and "stop" in self.commands:
                raise ActionError(f"{self.bot}: no restart command; stop and start it instead")
            raise ActionError(f"{self.bot}: no {verb!r} command under process.commands")
        return shlex.split(self.commands[verb])

    async def restart(self) -> str:
        """The restart command, or stop then start when only those are given."""
        if "restart" not in self.commands and {"start", "stop"} <= self.commands.keys():
            await self.stop()
            return await self.start()
        return await super().restart()


def controller_for(
    bot: str, spec: BotConfig, *, env: Mapping[str, str] | None = None
) -> Controller | None:
    """The controller ``spec.process`` names (None: a managed or unmanaged bot)."""
    p = spec.process
    if p is None:
        return None
    if p.commands:
        return Command(bot, bot, commands={str(k): v for k, v in p.commands.items()}, env=env)
    for kind in ("systemd", "pm2", "docker"):
        target = getattr(p, kind)
        if target:
            return CONTROLLERS[kind](bot, target, env=env)
    return None
