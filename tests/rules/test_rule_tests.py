"""`botwatch rules test`: promtool-style unit tests run through the real engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from botwatch.errors import ConfigError
from botwatch.rules.testing import load_test_file, parse_values, run_test_file

RULES = """\
groups:
  - name: bots
    rules:
      - alert: BotDown
        expr: probe_up == 0
        for: 2m
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.bot }} is down"}
      - alert: HighRss
        expr: avg_over_time(rss[5m]) > 400MB
"""

TESTS = """\
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - name: down for two minutes
    interval: 1m
    input_series:
      - series: 'probe_up{bot="a", check="health"}'
        values: '1 1 0x3 1'
      - series: 'probe_up{bot="b", check="health"}'
        values: '1x6'
      - series: 'rss{bot="a"}'
        values: '300e6+50e6x6'
    alert_rule_test:
      - eval_time: 3m
        alertname: BotDown           # pending since 2m: not firing yet
      - eval_time: 4m
        alertname: BotDown
        exp_alerts:
          - exp_labels: {bot: a, check: health, severity: critical}
            exp_annotations: {summary: a is down}
      - eval_time: 6m
        alertname: BotDown           # back up: resolved
      - eval_time: 6m
        alertname: HighRss
        exp_alerts:
          - exp_labels: {bot: a}
    promql_expr_test:
      - expr: sum(probe_up)
        eval_time: 3m
        exp_samples:
          - {labels: '{}', value: 1}
      - expr: probe_up == 0
        eval_time: 3m
        exp_samples:
          - {labels: 'probe_up{bot="a", check="health"}', value: 0}
"""


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("1 2 3", [1, 2, 3]),
        ("0+10x3", [0, 10, 20, 30]),
        ("10-2x2", [10, 8, 6]),
        ("5x2", [5, 5, 5]),
        ("1 _ _x2 2", [1, None, None, None, 2]),
        ("-1.5e1 stale", [-15, None]),
    ],
)
def test_expanding_notation(text: str, values: list[float | None]) -> None:
    assert parse_values(text) == values


def test_bad_notation_says_which_term() -> None:
    with pytest.raises(ValueError, match="cannot read '1\\+'"):
        parse_values("0 1+ 2")


def write(tmp_path: Path, tests: str = TESTS) -> Path:
    (tmp_path / "rules.yml").write_text(RULES)
    path = tmp_path / "rules_test.yml"
    path.write_text(tests)
    return path


def test_passing_tests(tmp_path: Path) -> None:
    spec, rules = load_test_file(write(tmp_path))
    assert run_test_file(spec, rules) == []


def test_failures_show_expected_and_got(tmp_path: Path) -> None:
    wrong = TESTS.replace("eval_time: 4m", "eval_time: 3m30s").replace("value: 1}", "value: 2}")
    spec, rules = load_test_file(write(tmp_path, wrong))
    failures = [str(f) for f in run_test_file(spec, rules)]
    assert failures == [
        "down for two minutes: alert BotDown at 3m30s\n"
        '    expected: {bot="a", check="health", severity="critical"} summary=\'a is down\'\n'
        "         got: nothing firing",
        "down for two minutes: sum(probe_up) at 3m\n    expected: {} 2\n         got: {} 1",
    ]


def test_broken_test_files_name_file_line_key(tmp_path: Path) -> None:
    bad = TESTS.replace("values: '1x6'", "values: '1x'").replace(
        "eval_time: 3m\n", "evaltime: 3m\n", 1
    )
    with pytest.raises(ConfigError) as info:
        load_test_file(write(tmp_path, bad))
    shown = [str(i) for i in info.value.issues]
    assert any(":10: tests[0].input_series[1].values: cannot read '1x'" in s for s in shown)
    assert any("unknown key 'evaltime'; did you mean 'eval_time'?" in s for s in shown)


def test_rules_test_command(tmp_path: Path) -> None:
    good = write(tmp_path)
    bad = tmp_path / "bad_test.yml"
    bad.write_text(TESTS.replace("exp_labels: {bot: a}", "exp_labels: {bot: b}"))

    def run(*files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "botwatch", "rules", "test", *map(str, files)],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=60,
        )

    ok = run(good)
    assert ok.returncode == 0, ok.stderr
    assert f"{good}: 1 test(s) passed" in ok.stdout
    r = run(good, bad)
    assert r.returncode == 1
    assert "alert HighRss at 6m" in r.stderr and 'expected: {bot="b"}' in r.stderr
    assert "Traceback" not in r.stderr
