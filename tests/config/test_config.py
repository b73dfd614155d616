"""Config loading: what a user sees for good and bad botwatch.yml files."""

from __future__ import annotations

from pathlib import Path

import pytest

from botwatch.config import load_config, parse_config, parse_duration, parse_size, redacted
from botwatch.errors import ConfigError

GOOD = """\
timezone: Asia/Jakarta
defaults: {interval: 15s, timeout: 3s}
bots:
  cryptomentor:
    kind: telegram
    token: ${CM_TOKEN}
    process: {pidfile: run/cm.pid}
    health: http://127.0.0.1:8080/health/json
    ports: [8080, "127.0.0.1:9090"]
    logs: logs/cm.log
    depends:
      db: postgresql://bot:hunter2@127.0.0.1:5432/cm
    limits: {memory: 512MB}
    checks:
      health: {interval: 5s}
    labels: {team: core}
"""


def issues_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "bot.yml", env or {})
    return [str(i) for i in e.value.issues]


def test_good_config_parses_with_units_and_env() -> None:
    c = parse_config(GOOD, "bot.yml", {"CM_TOKEN": "123:abc"})
    bot = c.bots["cryptomentor"]
    assert c.timezone == "Asia/Jakarta"
    assert c.defaults.interval == 15.0
    assert bot.token is not None and bot.token.get_secret_value() == "123:abc"
    assert bot.limits.memory == 512_000_000
    assert bot.ports == ["8080", "127.0.0.1:9090"]
    assert bot.logs == ["logs/cm.log"]
    assert bot.health is not None and bot.health.url.endswith("/health/json")
    assert bot.checks["health"].interval == 5.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1h30m", 5400), ("250ms", 0.25), ("2d", 172800), (45, 45), ("1.5m", 90)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"), [("512MB", 512_000_000), ("1GiB", 1024**3), ("100k", 100_000), (10, 10)]
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


def test_env_default_forms() -> None:
    text = "bots:\n  a:\n    token: ${T:-1:x}\n    labels: {x: '${EMPTY-kept}', y: '$${LITERAL}'}\n"
    c = parse_config(text, "f", {"EMPTY": ""})
    assert c.bots["a"].token is not None and c.bots["a"].token.get_secret_value() == "1:x"
    # `-` without the colon keeps an empty value; `$$` escapes a literal dollar sign.
    assert c.bots["a"].labels == {"x": "", "y": "${LITERAL}"}


def test_missing_env_var_names_variable_file_and_line() -> None:
    (msg,) = issues_of(GOOD)
    assert msg.startswith("bot.yml:6: bots.cryptomentor.token:")
    assert "CM_TOKEN is not set" in msg


def test_unknown_key_suggests_the_right_one() -> None:
    text = "defaults:\n  intervall: 30s\nbots:\n  a:\n    heatlh: http://x\n"
    msgs = issues_of(text)
    assert msgs == [
        "bot.yml:2: defaults.intervall: unknown key 'intervall'; did you mean 'interval'?",
        "bot.yml:5: bots.a.heatlh: unknown key 'heatlh'; did you mean 'health'?",
    ]


def test_unknown_key_without_a_close_match_lists_the_keys() -> None:
    (msg,) = issues_of("web:\n  zzz: 1\n")
    assert "unknown key 'zzz'; expected one of: listen" in msg


def test_wrong_types_and_bad_units_each_reported_with_line() -> None:
    text = (
        "bots:\n"
        "  a:\n"
        "    kind: slack\n"
        "    limits: {memory: 512XB}\n"
        "    checks:\n"
        "      health: {interval: soon}\n"
        "    ports: [99999]\n"
    )
    msgs = issues_of(text)
    assert len(msgs) == 4
    assert (
        msgs[0].startswith("bot.yml:3: bots.a.kind:")
        and "'telegram', 'discord' or 'generic'" in msgs[0]
    )
    assert msgs[1].startswith("bot.yml:4: bots.a.limits.memory:") and "not a size" in msgs[1]
    assert (
        msgs[2].startswith("bot.yml:6: bots.a.checks.health.interval:")
        and "not a duration" in msgs[2]
    )
    assert msgs[3].startswith("bot.yml:7: bots.a.ports:") and "not a port" in msgs[3]


def test_broken_yaml_names_the_line() -> None:
    (msg,) = issues_of("bots:\n  a:\n    kind: telegram\n   bad indent: [\n")
    assert msg.startswith("bot.yml:4:") and "invalid YAML" in msg


def test_duplicate_keys_are_an_error() -> None:
    (msg,) = issues_of("bots:\n  a: {}\n  a: {}\n")
    assert msg == "bot.yml:3: bots.a: this key appears twice in the mapping"


def test_invalid_values() -> None:
    msgs = issues_of(
        "timezone: Mars/Olympus\nstorage: mysql://x\nbots:\n  'bad name!': {}\n"
        "  b:\n    process: {}\n    health: ftp://x\n    depends: {db: localhost}\n"
    )
    joined = "\n".join(msgs)
    assert "bot.yml:1: timezone: unknown time zone 'Mars/Olympus'" in joined
    assert "bot.yml:2: storage: use sqlite:///" in joined
    assert "bot name 'bad name!'" in joined
    assert "bot.yml:6: bots.b.process: give at least one of pidfile" in joined
    assert "bot.yml:7: bots.b.health.url: must be an http:// or https:// URL" in joined
    assert "bot.yml:8: bots.b.depends: db: 'localhost' is not a URL" in joined


def test_top_level_must_be_a_mapping() -> None:
    assert issues_of("- a\n- b\n") == ["bot.yml:1: the config must be a mapping of keys"]


def test_empty_file_is_a_valid_empty_fleet() -> None:
    assert parse_config("", "f", {}).bots == {}


def test_load_config_missing_file_and_relative_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "nope.yml")
    assert "no such file; create one with `botwatch init`" in str(e.value)
    p = tmp_path / "sub" / "botwatch.yml"
    p.parent.mkdir()
    p.write_text("bots: {a: {logs: [x.log]}}\n")
    loaded = load_config(p, env={})
    assert loaded.resolve("x.log") == tmp_path / "sub" / "x.log"
    assert loaded.storage_url == f"sqlite:///{tmp_path}/sub/.botwatch/botwatch.db"


def test_non_utf8_file(tmp_path: Path) -> None:
    p = tmp_path / "b.yml"
    p.write_bytes(b"bots:\n  a: {kind: \xff}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)


def test_redacted_hides_tokens_and_url_passwords() -> None:
    c = parse_config(GOOD, "bot.yml", {"CM_TOKEN": "123:abcdef"})
    text = repr(redacted(c))
    assert "abcdef" not in text and "hunter2" not in text
    bot = redacted(c)["bots"]["cryptomentor"]
    assert bot["token"] == "***"
    assert bot["depends"]["db"] == "postgresql://bot:***@127.0.0.1:5432/cm"
    # The model itself never prints the token either.
    assert "abcdef" not in repr(c)


def test_example_config_from_init_is_valid() -> None:
    from importlib import resources

    text = resources.files("botwatch.config").joinpath("example.yml").read_text()
    c = parse_config(text, "example.yml", {})
    assert "mybot" in c.bots
