"""The built-in rule pack: generated per config, thresholds overridable per bot."""

from __future__ import annotations

from pathlib import Path

import pytest

from botwatch.alerts import AlertEngine, AlertState
from botwatch.clock import ManualClock
from botwatch.config import LoadedConfig, parse_config
from botwatch.errors import ConfigError
from botwatch.rules import MemorySeries
from botwatch.rules.files import Rule, config_rules
from botwatch.rules.pack import BUILTIN, builtin_names, builtin_rules

CONFIG = """\
bots:
  alpha:
    process: {match: alpha.py}
    limits: {memory: 200MB}
    alerts: {HighCpu: {threshold: 50}}
  beta:
    process: {match: beta.py}
    alerts: {ErrorRatioHigh: {enabled: false}}
  gamma: {}
alerting:
  overrides:
    HighCpu: {for: 1m}
"""


def rules_for(text: str = CONFIG) -> list[Rule]:
    return builtin_rules(parse_config(text, "bw.yml", {}))


def by_name(rules: list[Rule], name: str) -> list[str]:
    return sorted(r.source for r in rules if r.name == name)


def test_every_builtin_rule_is_generated_and_parses() -> None:
    rules = rules_for()
    assert {r.name for r in rules} == set(builtin_names())
    for r in rules:
        assert r.labels["severity"] in ("critical", "warning")
        assert r.annotations["summary"] and r.annotations["runbook"]


def test_per_bot_overrides_make_their_own_copy() -> None:
    rules = rules_for()
    assert by_name(rules, "HighCpu") == [
        'avg_over_time(process_cpu_percent{bot!~"alpha"}[5m]) > 90',  # all the others
        'avg_over_time(process_cpu_percent{bot=~"alpha"}[5m]) > 50',
    ]
    assert {r.for_ for r in rules if r.name == "HighCpu"} == {60.0}  # the fleet-wide override
    assert by_name(rules, "ErrorRatioHigh") == ['log_error_ratio{bot!~"beta"} > 0.1']
    assert by_name(rules, "BotProcessDown") == ['process_up{bot!=""} == 0']
    # Limits-based rules exist only for bots with that limit.
    assert by_name(rules, "RssAboveLimit") == ['process_rss_bytes{bot=~"alpha"} > 2e+08']
    assert by_name(rules, "HighMemory") == [
        'avg_over_time(process_rss_bytes{bot=~"alpha"}[5m]) > 1.9e+08'
    ]
    # Of the bots whose process botwatch finds (gamma has none).
    assert by_name(rules, "FewerBotsOnline") == [
        '(count(process_up{bot!=""} == 1) or vector(0)) < 2'
    ]


def test_the_pack_can_be_turned_off_and_rules_disabled_for_all() -> None:
    assert rules_for("alerting: {builtin: false}\nbots: {a: {}}\n") == []
    rules = rules_for("bots: {a: {}}\nalerting: {overrides: {BotProcessDown: {enabled: false}}}\n")
    assert "BotProcessDown" not in {r.name for r in rules}


def test_unknown_rule_names_in_overrides_are_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("bots:\n  a:\n    alerts: {HighCPU: {threshold: 1}}\n", "bw.yml", {})
    (issue,) = info.value.issues
    assert str(issue) == (
        "bw.yml:3: bots.a.alerts: 'HighCPU' is not a built-in rule; did you mean 'HighCpu'?"
    )


def test_builtin_rules_fire_on_real_series() -> None:
    clock = ManualClock()
    mem = MemorySeries()
    engine = AlertEngine(rules_for(), mem, clock=clock)
    now = clock.time()
    for bot, up in (("alpha", 0.0), ("beta", 1.0)):
        mem.add("process_up", {"bot": bot, "check": "process"}, now, up)
    mem.add("telegram_error_code", {"bot": "beta", "check": "telegram"}, now, 409.0)
    mem.add("process_rss_bytes", {"bot": "alpha"}, now, 250e6)
    firing = {
        (t.alert.rule, t.alert.labels.get("bot", "")): t.alert
        for t in engine.tick()
        if t.after is AlertState.FIRING
    }
    assert set(firing) == {("BotProcessDown", "alpha"), ("TelegramConflict", "beta")}
    conflict = firing[("TelegramConflict", "beta")]
    assert conflict.labels["severity"] == "critical" and conflict.labels["priority"] == "P1"
    assert conflict.annotations["summary"] == "beta: two instances are running (409 Conflict)"
    # Memory rules wait out their "for" (a minute above the limit, 10 near it), and
    # FewerBotsOnline a minute (botwatch's own start, before the first samples).
    pending = sorted(a.rule for a in engine.alerts() if a.state is AlertState.PENDING)
    assert pending == ["FewerBotsOnline", "HighMemory", "RssAboveLimit"]
    (fewer,) = [a for a in engine.alerts() if a.rule == "FewerBotsOnline"]
    assert fewer.annotations["summary"] == "fewer bots running than expected: 1"
    (rss,) = [r for r in engine.rules if r.rule.name == "RssAboveLimit"]
    assert rss.rule.action is not None and rss.rule.action.do == "restart"


def test_config_rules_adds_rule_files_and_reports_their_problems(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text(
        "groups:\n  - name: mine\n    rules:\n      - {alert: Mine, expr: up == 0}\n"
    )
    text = "bots: {a: {}}\nrules: [rules/*.yml]\n"
    loaded = LoadedConfig(parse_config(text, "bw.yml", {}), tmp_path / "bw.yml", tmp_path)
    rules = config_rules(loaded)
    assert rules[-1].name == "Mine" and len(rules) == len(builtin_rules(loaded.config)) + 1
    (tmp_path / "rules" / "b.yml").write_text(
        "groups:\n  - name: x\n    rules:\n      - {alert: B}\n"
    )
    bad = LoadedConfig(
        parse_config(text + "  # \n", "bw.yml", {}).model_copy(
            update={"rules": ["rules/*.yml", "nothing/*.yml"]}
        ),
        tmp_path / "bw.yml",
        tmp_path,
    )
    with pytest.raises(ConfigError) as info:
        config_rules(bad)
    shown = [str(i) for i in info.value.issues]
    assert any("b.yml:4: groups[0].rules[0].expr: this key is required" in s for s in shown)
    assert any("rules: no file matches 'nothing/*.yml'" in s for s in shown)


def test_pack_names_are_unique() -> None:
    assert len({r.name for r in BUILTIN}) == len(BUILTIN)
