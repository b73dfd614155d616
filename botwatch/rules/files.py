"""Rule files in Prometheus' shape: ``groups[].{name, interval, labels, limit, rules[]}``.

Each rule is an alert: ``alert``, ``expr``, ``for``, ``keep_firing_for``, ``labels``,
``annotations``, and what a rule with no data or a failing evaluation means
(``no_data_state``, ``exec_err_state``). Loading checks everything a mistake could
hide in: the expression (with a caret under the column), the templates, durations,
label names; every problem is reported with its file, line and key.
"""

from __future__ import annotations

__all__ = [
    "Rule",
    "RuleFile",
    "RuleGroup",
    "RuleSpec",
    "config_rules",
    "load_rule_file",
    "parse_rule_file",
]

import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from botwatch.config.loader import read_text_file, validate_located
from botwatch.config.response import ActionSpec
from botwatch.config.units import Duration
from botwatch.config.yamlsource import load_yaml
from botwatch.errors import ConfigError, ConfigIssue, RuleSyntaxError
from botwatch.rules.ast import Node
from botwatch.rules.parser import parse
from botwatch.rules.template import check_template

if TYPE_CHECKING:
    from botwatch.config import LoadedConfig

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_LIMIT = 1000
"""Alert instances one rule may have at once unless its group says otherwise; past it
the rule's evaluation fails (a label explosion must not flood the store or a pager)."""


def checked_expr(text: str) -> str:
    """``text`` if it parses and type-checks; else ``ValueError`` with the caret message
    (for pydantic validators of expression fields)."""
    try:
        parse(text)
    except RuleSyntaxError as e:
        raise ValueError(str(e)) from None
    return text


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not _NAME.match(key):
            raise ValueError(
                f"label name {key!r} must be letters, digits and _ (not first a digit)"
            )
    return value


class RuleSpec(BaseModel):
    """One alerting rule as written in a rule file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    alert: str
    expr: str
    for_: Duration = Field(0.0, alias="for")
    keep_firing_for: Duration = 0.0
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    no_data_state: Literal["ok", "alerting", "nodata"] = "ok"
    exec_err_state: Literal["error", "alerting", "ok"] = "error"
    action: ActionSpec | None = None
    """What botwatch does when the alert fires (restart, stop, rotate_logs, run)."""

    @field_validator("alert")
    @classmethod
    def _alert_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"alert name {v!r} must be letters, digits and _ (like BotDown)")
        return v

    @field_validator("expr")
    @classmethod
    def _expr(cls, v: str) -> str:
        return checked_expr(v)

    @field_validator("labels", "annotations")
    @classmethod
    def _templates(cls, v: dict[str, str]) -> dict[str, str]:
        _check_labels(v)
        for key, text in v.items():
            problem = check_template(text)
            if problem is not None:
                raise ValueError(f"{key}: {problem}")
        return v


class RuleGroup(BaseModel):
    """Rules evaluated together, every ``interval`` (default: the config's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    interval: Duration | None = None
    labels: dict[str, str] = {}
    limit: int = Field(DEFAULT_LIMIT, ge=1)
    rules: list[RuleSpec] = []

    @field_validator("labels")
    @classmethod
    def _label_names(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_labels(v)


class RuleFile(BaseModel):
    """A whole rule file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[RuleGroup] = []

    @model_validator(mode="after")
    def _unique_groups(self) -> RuleFile:
        seen: set[str] = set()
        for g in self.groups:
            if g.name in seen:
                raise ValueError(f"group name {g.name!r} is used twice in this file")
            seen.add(g.name)
        return self


@dataclass(frozen=True)
class Rule:
    """A loaded rule, ready to evaluate: its group's labels merged in, expression parsed."""

    name: str
    expr: Node
    group: str
    file: str
    for_: float = 0.0
    keep_firing_for: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    interval: float | None = None
    limit: int = DEFAULT_LIMIT
    no_data_state: str = "ok"
    exec_err_state: str = "error"
    source: str = ""
    """The expression as written."""
    action: ActionSpec | None = None
    """Done for each bot the alert fires for (None: notify only)."""


def parse_rule_file(text: str, file: str, env: Mapping[str, str] | None = None) -> list[Rule]:
    """Validate rule-file ``text``; raises ``ConfigError`` naming file, line and key."""
    src = load_yaml(text, file, os.environ if env is None else env)
    if src.data is None:
        return []
    if not isinstance(src.data, dict):
        raise ConfigError([ConfigIssue(file, 1, "", "a rule file is a mapping with `groups:`")])
    spec = validate_located(RuleFile, src)
    rules = []
    for g in spec.groups:
        for r in g.rules:
            rules.append(
                Rule(
                    name=r.alert,
                    expr=parse(r.expr),
                    group=g.name,
                    file=file,
                    for_=r.for_,
                    keep_firing_for=r.keep_firing_for,
                    labels={**g.labels, **r.labels},
                    annotations=dict(r.annotations),
                    interval=g.interval,
                    limit=g.limit,
                    no_data_state=r.no_data_state,
                    exec_err_state=r.exec_err_state,
                    source=r.expr,
                    action=r.action if r.action is not None and r.action.do != "none" else None,
                )
            )
    return rules


def load_rule_file(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> list[Rule]:
    """Read and validate the rule file at ``path``."""
    p = Path(path)
    text = read_text_file(p, missing="no such rule file")
    return parse_rule_file(text, str(p), env)


def config_rules(loaded: LoadedConfig) -> list[Rule]:
    """Every rule ``loaded`` asks for: the built-in pack, then its ``rules:`` files.

    Raises ``ConfigError`` listing every problem in every file (and globs matching none).
    """
    from botwatch.rules.pack import builtin_rules

    rules = builtin_rules(loaded.config)
    issues: list[ConfigIssue] = []
    for pattern in loaded.config.rules:
        paths = sorted(glob.glob(str(loaded.resolve(pattern))))
        if not paths:
            issues.append(
                ConfigIssue(str(loaded.path), None, "rules", f"no file matches {pattern!r}")
            )
        for path in paths:
            try:
                rules += load_rule_file(path)
            except ConfigError as e:
                issues += e.issues
    if issues:
        raise ConfigError(issues)
    return rules
