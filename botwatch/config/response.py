"""The schema of what botwatch does about an alert besides notifying: actions bound to
rules (restart, stop, rotate logs, run a command) and incidents (who opens them, how
they escalate). ``Config`` checks the cross-references (receivers, time intervals).
"""

from __future__ import annotations

__all__ = ["ACTIONS", "ActionSpec", "EscalationStep", "IncidentsConfig", "Priority"]

from typing import Any, Literal

from pydantic import Field, model_validator

from botwatch.config.base import ConfigModel as _Model
from botwatch.config.units import Duration

ACTIONS = ("restart", "stop", "start", "rotate_logs", "run", "none")
Priority = Literal["P1", "P2", "P3", "P4"]


class ActionSpec(_Model):
    """What to do when a rule fires: ``action: restart`` or the long form
    ``action: {do: run, command: "./cleanup.sh", cooldown: 30m}``.

    ``restart`` and ``start`` are followed by a health verification: the bot's checks
    must pass within ``verify``, or the action counts as failed (an event, and the
    built-in ``ActionFailed`` alert). ``cooldown`` keeps one bot from being acted on
    again by the same rule sooner than that, so a rule that keeps firing cannot
    restart a bot in a loop. ``none`` turns a built-in rule's action off.
    """

    do: Literal["restart", "stop", "start", "rotate_logs", "run", "none"]
    command: str | None = None
    """For ``run``: a shell command, run in the config's directory with
    ``$BOTWATCH_BOT``, ``$BOTWATCH_ALERT``, ``$BOTWATCH_VALUE`` and ``$BOTWATCH_REASON``
    set."""
    verify: Duration = Field(60.0, gt=0)
    cooldown: Duration = Field(600.0, ge=0)
    timeout: Duration = Field(60.0, gt=0)
    """For ``run``: how long the command may take."""
    keep: int = Field(3, ge=1)
    """For ``rotate_logs``: rotated files kept (``app.log.1`` … ``app.log.N``)."""

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"do": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _command(self) -> ActionSpec:
        if self.do == "run" and not self.command:
            raise ValueError("action run needs a command: {do: run, command: ...}")
        return self


class EscalationStep(_Model):
    """Tell ``receiver`` when an incident is still not acknowledged ``after`` this long
    since it opened (only for ``priorities``, if given)."""

    after: Duration = Field(ge=0)
    receiver: str
    priorities: list[Priority] = Field(default_factory=list)


def _serious() -> list[Priority]:
    return ["P1", "P2"]


class IncidentsConfig(_Model):
    """Which alerts open incidents, and the escalation chain."""

    enabled: bool = True
    open_for: list[Priority] = Field(default_factory=lambda: _serious())
    """Priorities that open (or join) an incident. An alert's priority is its
    ``priority`` label, else from ``severity``: critical P1, error P2, warning P3,
    info P4."""
    escalation: list[EscalationStep] = Field(default_factory=list)
    """Steps in order of ``after``; each is taken once per incident."""

    @model_validator(mode="after")
    def _ordered(self) -> IncidentsConfig:
        afters = [s.after for s in self.escalation]
        if afters != sorted(afters):
            raise ValueError("escalation: steps must be in order of `after`")
        return self
