"""Unit tests for rules, in ``promtool test rules``' format: ``botwatch rules test FILE``.

A test file names rule files and gives input series in promtool's expanding notation
(``'1 1 0x5'``, ``'0+10x6'``, ``_`` for a missing value); each test then says which
alerts should be firing at which times, or what an expression should give. The rules
run through the real engine, stepping the clock every ``evaluation_interval``, so a
test exercises ``for``, ``keep_firing_for`` and no-data handling as production does.
"""

from __future__ import annotations

__all__ = ["TestFile", "load_test_file", "parse_values", "run_test_file"]

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from botwatch.alerts.engine import AlertEngine
from botwatch.alerts.state import AlertState
from botwatch.clock import ManualClock
from botwatch.config.loader import read_text_file, validate_located
from botwatch.config.units import Duration, format_duration
from botwatch.config.yamlsource import load_yaml
from botwatch.errors import ConfigError, ConfigIssue, RuleError, RuleSyntaxError
from botwatch.rules.ast import Selector
from botwatch.rules.evaluate import Evaluator
from botwatch.rules.files import Rule, checked_expr, load_rule_file
from botwatch.rules.parser import parse
from botwatch.rules.source import MemorySeries

_TERM = re.compile(
    r"^(?P<start>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|_)"
    r"(?:(?P<op>[-+])(?P<step>\d+(\.\d*)?([eE][-+]?\d+)?))?(?:x(?P<n>\d+))?$"
)


def parse_values(text: str) -> list[float | None]:
    """promtool's expanding notation: ``1 2 3``, ``0+10x3`` (0 10 20 30), ``5x2``
    (5 5 5), ``_`` (no value), ``_x3``; raises ``ValueError`` saying which term is bad."""
    out: list[float | None] = []
    for term in text.split():
        if term == "stale":
            out.append(None)
            continue
        m = _TERM.match(term)
        if m is None:
            raise ValueError(f"cannot read {term!r}: use numbers, 'a+bxn', 'axn' or '_'")
        n = int(m.group("n")) if m.group("n") else 0
        if m.group("start") == "_":
            if m.group("op"):
                raise ValueError(f"cannot read {term!r}: '_' takes no step")
            out += [None] * (n if m.group("n") else 1)
            continue
        start = float(m.group("start"))
        step = float(m.group("step") or 0) * (-1 if m.group("op") == "-" else 1)
        out += [start + step * i for i in range(n + 1)]
    return out


class InputSeries(BaseModel):
    """One series and its values at 0, interval, 2×interval, ..."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    series: str
    values: str

    @field_validator("series")
    @classmethod
    def _series(cls, v: str) -> str:
        _selector(v)
        return v

    @field_validator("values")
    @classmethod
    def _values(cls, v: str) -> str:
        parse_values(v)
        return v


class ExpectedAlert(BaseModel):
    """A firing alert expected: its labels (alertname implied) and annotations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exp_labels: dict[str, str] = {}
    exp_annotations: dict[str, str] = {}


class AlertTest(BaseModel):
    """At ``eval_time``, exactly these ``alertname`` alerts are firing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eval_time: Duration
    alertname: str
    exp_alerts: list[ExpectedAlert] = []


class ExpectedSample(BaseModel):
    """One element an expression should give: ``labels`` in series syntax."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: str = ""
    value: float


class ExprTest(BaseModel):
    """At ``eval_time``, ``expr`` gives exactly these samples."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expr: str
    eval_time: Duration
    exp_samples: list[ExpectedSample] = []

    @field_validator("expr")
    @classmethod
    def _expr(cls, v: str) -> str:
        return checked_expr(v)


class TestCase(BaseModel):
    """Input series and what should come of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    interval: Duration | None = None
    input_series: list[InputSeries] = []
    alert_rule_test: list[AlertTest] = []
    promql_expr_test: list[ExprTest] = []


class TestFile(BaseModel):
    """A whole rule test file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_files: list[str] = []
    evaluation_interval: Duration = Field(60.0, gt=0)
    tests: list[TestCase] = []


def _selector(text: str) -> tuple[str, dict[str, str]]:
    """``name{a="b"}`` → (name, labels); ``{a="b"}`` → ("", labels)."""
    if text.lstrip().startswith("{"):
        return "", _selector("_" + text.lstrip())[1]
    try:
        node = parse(text)
    except RuleSyntaxError as e:
        raise ValueError(str(e)) from None
    if not isinstance(node, Selector) or any(m.op != "=" for m in node.matchers):
        raise ValueError(f'{text!r} is not a series like name{{label="value"}}')
    return node.name, {m.label: m.value for m in node.matchers}


def load_test_file(path: str | os.PathLike[str]) -> tuple[TestFile, list[Rule]]:
    """Read a test file and the rule files it names (relative to it)."""
    p = Path(path)
    text = read_text_file(p, missing="no such rule test file")
    src = load_yaml(text, str(p), os.environ)
    if not isinstance(src.data, dict):
        raise ConfigError([ConfigIssue(str(p), 1, "", "a rule test file is a mapping")])
    spec = validate_located(TestFile, src)
    rules: list[Rule] = []
    for name in spec.rule_files:
        rules += load_rule_file(p.parent / name)
    return spec, rules


@dataclass
class Failure:
    """One expectation that did not hold."""

    test: str
    what: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"{self.test}: {self.what}\n    expected: {self.expected}\n         got: {self.got}"


def _show(labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> str:
    text = "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    if extra:
        text += " " + ", ".join(f"{k}={v!r}" for k, v in sorted(extra.items()))
    return text


def run_test_file(spec: TestFile, rules: list[Rule]) -> list[Failure]:
    """Run every test; returns the failures (none: all passed)."""
    failures: list[Failure] = []
    for i, case in enumerate(spec.tests):
        failures += _run_case(case.name or f"test {i + 1}", case, spec, rules)
    return failures


def _run_case(name: str, case: TestCase, spec: TestFile, rules: list[Rule]) -> list[Failure]:
    step = case.interval or spec.evaluation_interval
    mem = MemorySeries(keep=math.inf)
    for s in case.input_series:
        series, labels = _selector(s.series)
        for k, v in enumerate(parse_values(s.values)):
            if v is not None:
                mem.add(series, labels, k * step, v)
    clock = ManualClock(start=0.0)
    engine = AlertEngine(rules, mem, clock=clock, interval=spec.evaluation_interval)
    checks = sorted(case.alert_rule_test, key=lambda t: t.eval_time)
    failures: list[Failure] = []
    t = 0.0
    for check in checks:
        while t <= check.eval_time + 1e-9:
            engine.tick(t)
            t += spec.evaluation_interval
        got = sorted(
            _show({k: v for k, v in a.labels.items() if k != "alertname"}, a.annotations)
            for a in engine.alerts()
            if a.rule == check.alertname and a.state is AlertState.FIRING
        )
        want = sorted(_show(e.exp_labels, e.exp_annotations) for e in check.exp_alerts)
        if got != want:
            failures.append(
                Failure(
                    name,
                    f"alert {check.alertname} at {format_duration(check.eval_time)}",
                    "; ".join(want) or "nothing firing",
                    "; ".join(got) or "nothing firing",
                )
            )
    evaluator = Evaluator(mem)
    for et in case.promql_expr_test:
        try:
            value = evaluator.evaluate(parse(et.expr), et.eval_time)
        except RuleError as e:
            failures.append(Failure(name, f"{et.expr} at {et.eval_time:g}s", "a value", str(e)))
            continue
        if isinstance(value, float):
            got_s = [f"{{}} {value:g}"]
        else:
            got_s = sorted(
                _show({**e.labels, **({"__name__": e.name} if e.name else {})}) + f" {e.value:g}"
                for e in value
            )
        want_s = []
        for smp in et.exp_samples:
            series, labels = _selector(smp.labels) if smp.labels else ("", {})
            if series:
                labels["__name__"] = series
            want_s.append(_show(labels) + f" {smp.value:g}")
        if got_s != sorted(want_s):
            failures.append(
                Failure(
                    name,
                    f"{et.expr} at {format_duration(et.eval_time)}",
                    "; ".join(sorted(want_s)) or "nothing",
                    "; ".join(got_s) or "nothing",
                )
            )
    return failures
