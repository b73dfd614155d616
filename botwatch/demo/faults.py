"""Injectable faults of a demo bot, switched through a small JSON control file.

The file is the whole interface between ``botwatch demo fault ...`` and a running demo
bot, which re-reads it every second — easy to inspect (``cat run/flakybot.control.json``)
and to edit by hand::

    {
      "leak":    {"on": true,  "mb_per_min": 5.0, "max_mb": 512.0},
      "errors":  {"on": false, "every_seconds": 5.0, "lines_per_burst": 3},
      "crash":   {"on": false, "after_seconds": 3.0, "exit_code": 1},
      "slow-db": {"on": false, "latency_seconds": 3.0}
    }

* ``leak`` — the process keeps ``mb_per_min`` more memory every minute (up to
  ``max_mb``, so a forgotten demo cannot eat the machine). Switching it off stops the
  growth but, like a real leak, does not give the memory back: only a restart does.
* ``errors`` — every ``every_seconds`` a burst of ERROR lines, one with a traceback.
* ``crash`` — ``after_seconds`` after it is switched on the bot exits with
  ``exit_code``, leaving its pidfile behind as a crashed process does.
* ``slow-db`` — the ``database`` health check takes ``latency_seconds``, longer than
  its 2 s timeout, so the bot's health turns UNHEALTHY.
"""

from __future__ import annotations

__all__ = [
    "FAULTS",
    "ControlFileError",
    "CrashFault",
    "ErrorsFault",
    "FaultName",
    "FaultSettings",
    "LeakFault",
    "SlowDbFault",
    "read_control",
    "set_fault",
    "write_control",
]

import json
import os
import tempfile
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from botwatch.errors import BotwatchError

FaultName = Literal["leak", "errors", "crash", "slow-db"]
FAULTS: tuple[FaultName, ...] = get_args(FaultName)


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool = False


class LeakFault(_Fault):
    """Grow the resident memory steadily."""

    mb_per_min: float = Field(5.0, gt=0)
    max_mb: float = Field(512.0, gt=0)


class ErrorsFault(_Fault):
    """Log bursts of errors with a traceback."""

    every_seconds: float = Field(5.0, gt=0)
    lines_per_burst: int = Field(3, ge=1, le=100)


class CrashFault(_Fault):
    """Exit non-zero a little after being switched on."""

    after_seconds: float = Field(3.0, ge=0)
    exit_code: int = Field(1, ge=1, le=255)


class SlowDbFault(_Fault):
    """Make the simulated database slower than its health check's timeout."""

    latency_seconds: float = Field(3.0, gt=0)


class FaultSettings(BaseModel):
    """The whole control file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    leak: LeakFault = Field(default_factory=LeakFault)
    errors: ErrorsFault = Field(default_factory=ErrorsFault)
    crash: CrashFault = Field(default_factory=CrashFault)
    slow_db: SlowDbFault = Field(default_factory=SlowDbFault, alias="slow-db")

    def fault(self, name: FaultName) -> _Fault:
        """The settings of fault ``name``."""
        return {
            "leak": self.leak,
            "errors": self.errors,
            "crash": self.crash,
            "slow-db": self.slow_db,
        }[name]

    def active(self) -> list[FaultName]:
        """The names of the faults switched on."""
        return [name for name in FAULTS if self.fault(name).on]

    def to_json(self) -> str:
        """The file's text: keys as the fault names, indented for reading."""
        return json.dumps(self.model_dump(by_alias=True), indent=2) + "\n"


class ControlFileError(BotwatchError):
    """A control file could not be read or is not valid."""


def read_control(path: Path) -> FaultSettings:
    """Parse the control file at ``path``; a missing file means every fault off.

    Raises ``ControlFileError`` when the file is not valid JSON or has unknown keys.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return FaultSettings()
    except OSError as e:
        raise ControlFileError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return FaultSettings.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ControlFileError(f"{path}: {where}: {first['msg']}") from None


def write_control(path: Path, settings: FaultSettings) -> None:
    """Write ``settings`` atomically, so the bot never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(settings.to_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_fault(path: Path, name: FaultName, on: bool) -> FaultSettings:
    """Switch fault ``name`` on or off in the control file, keeping its other settings."""
    if name not in FAULTS:
        raise ControlFileError(f"unknown fault {name!r}; use one of: {', '.join(FAULTS)}")
    settings = read_control(path)
    settings.fault(name).on = on
    write_control(path, settings)
    return settings
