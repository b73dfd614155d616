"""Rule files: Prometheus' shape, every mistake reported with file, line and key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from botwatch.errors import ConfigError
from botwatch.rules.files import load_rule_file, parse_rule_file
from botwatch.rules.template import check_template, render

GOOD = """\
groups:
  - name: bots
    interval: 30s
    labels: {team: ops}
    rules:
      - alert: BotDown
        expr: probe_up{check="process"} == 0
        for: 1m
        keep_firing_for: 2m
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.bot }} is down"
          runbook: "botwatch restart {{ $labels.bot }}"
  - name: resources
    limit: 50
    rules:
      - alert: HighRss
        expr: avg_over_time(process_rss_bytes[5m]) > 400MB
        no_data_state: alerting
"""


def test_a_good_file_loads_into_rules() -> None:
    down, rss = parse_rule_file(GOOD, "rules.yml")
    assert down.name == "BotDown" and down.group == "bots" and down.file == "rules.yml"
    assert down.for_ == 60.0 and down.keep_firing_for == 120.0 and down.interval == 30.0
    assert dict(down.labels) == {"team": "ops", "severity": "critical"}  # group labels merged
    assert str(down.expr) == 'probe_up{check="process"} == 0'
    assert rss.interval is None and rss.limit == 50 and rss.no_data_state == "alerting"
    assert parse_rule_file("", "empty.yml") == []


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_rule_file(text, "r.yml")
    return [str(i) for i in info.value.issues]


def test_every_problem_names_file_line_and_key() -> None:
    found = problems(
        "groups:\n"
        "  - name: g\n"
        "    rules:\n"
        "      - alert: HighRss\n"
        "        expr: process_rss_bytes > 400MB and\n"
        "        annotations: {summary: '{{ $value | humanise }}'}\n"
        "      - alert: Bad Name\n"
        "        exprr: x\n"
        "        for: soon\n"
    )
    assert found[0].startswith(
        "r.yml:5: groups[0].rules[0].expr: column 30: expected a number, a series"
    )
    assert found[0].endswith("process_rss_bytes > 400MB and\n                               ^")
    assert "r.yml:6: groups[0].rules[0].annotations: summary: unknown filter 'humanise'" in found[1]
    assert "r.yml:7: groups[0].rules[1].alert: alert name 'Bad Name' must be" in found[2]
    assert "r.yml:7: groups[0].rules[1].expr: this key is required" in found
    assert "r.yml:8: groups[0].rules[1].exprr: unknown key 'exprr'; did you mean 'expr'?" in found
    assert "r.yml:9: groups[0].rules[1].for: 'soon' is not a duration" in found[-1]


def test_group_mistakes() -> None:
    dup = "groups:\n  - {name: a}\n  - {name: a}\n"
    assert any("group name 'a' is used twice" in p for p in problems(dup))
    assert any(
        "greater than or equal to 1" in p for p in problems("groups:\n  - {name: a, limit: 0}\n")
    )
    assert problems("- just a list\n") == ["r.yml:1: a rule file is a mapping with `groups:`"]
    bad_label = "groups:\n  - name: a\n    rules:\n      - {alert: A, expr: x, labels: {1x: y}}\n"
    assert any("label name '1x'" in p for p in problems(bad_label))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such rule file"):
        load_rule_file(tmp_path / "nope.yml")


def test_templates_render_labels_and_values() -> None:
    labels = {"bot": "alpha", "pct": "0.93"}
    assert render("{{ $labels.bot }} uses {{ $value | humanize1024 }}B", labels, 536870912) == (
        "alpha uses 512MiB"
    )
    assert render("{{ humanize $value }} req/s", labels, 12345) == "12.35k req/s"
    assert render("{{$value|humanizeDuration}}", labels, 5400) == "1h30m"
    assert render("{{ $labels.pct | humanizePercentage }}", labels, 0) == "93%"
    assert render("{{ $labels.missing }}|{{ $value }}", labels, 2.5) == "|2.5"
    assert check_template("{{ $labels.bot }} {{ $value }}") is None
    assert "cannot read '{{ $foo }}'" in (check_template("{{ $foo }}") or "")
    assert check_template("a {{ b") == "a '{{' is never closed with '}}'"


def test_rules_check_command(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(GOOD)
    bad.write_text("groups:\n  - name: g\n    rules:\n      - {alert: A, expr: 'rate(x)'}\n")

    def run(*files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "botwatch", "rules", "check", *map(str, files)],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=60,
        )

    ok = run(good)
    assert ok.returncode == 0 and f"{good}: 2 rule(s) in 2 group(s)" in ok.stdout
    r = run(good, bad)
    assert r.returncode == 1
    assert f"{bad}:4: groups[0].rules[0].expr: column 6: rate() needs a range vector" in r.stderr
    assert "Traceback" not in r.stderr


def test_rules_check_without_files_checks_the_config(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mine.yml").write_text(GOOD)
    (tmp_path / "botwatch.yml").write_text("bots: {a: {}}\nrules: [rules/*.yml]\n")
    r = subprocess.run([sys.executable, "-m", "botwatch", "rules", "check"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "built-in and 2 own rule(s)" in r.stdout
    (tmp_path / "rules" / "bad.yml").write_text(
        "groups: [{name: x, rules: [{alert: B, expr: 'up =='}]}]\n"
    )
    r = subprocess.run([sys.executable, "-m", "botwatch", "rules", "check"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (
        r.returncode == 1
        and "bad.yml:1: groups[0].rules[0].expr: column 6: expected a number" in r.stderr
    )
