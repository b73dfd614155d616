"""`botwatch init`, `config check|show` and `check`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BOTWATCH = [sys.executable, "-m", "botwatch"]


def botwatch(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BOTWATCH, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )


def test_init_writes_a_valid_commented_config(tmp_path: Path) -> None:
    r = botwatch("init", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "botwatch.yml").read_text()
    assert text.startswith("# botwatch.yml")
    again = botwatch("init", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    ok = botwatch("config", "check", cwd=tmp_path)
    assert ok.returncode == 0 and "is valid: 1 bot(s) (mybot)" in ok.stdout


def test_config_check_lists_every_problem_with_file_line_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bw.yml"
    cfg.write_text("bots:\n  a:\n    heatlh: http://x\n    token: ${NOPE}\n")
    r = botwatch("config", "check", "-c", str(cfg))
    assert r.returncode == 2
    assert f"{cfg}:4: bots.a.token: environment variable NOPE is not set" in r.stderr
    assert "Traceback" not in r.stderr
    cfg.write_text("bots:\n  a:\n    heatlh: http://x\n")
    r = botwatch("config", "check", "-c", str(cfg))
    assert f"{cfg}:3: bots.a.heatlh: unknown key 'heatlh'; did you mean 'health'?" in r.stderr


def test_config_show_redacts_secrets(tmp_path: Path) -> None:
    cfg = tmp_path / "bw.yml"
    cfg.write_text(
        "bots:\n  a:\n    kind: telegram\n    token: ${TOK}\n"
        "    depends: {db: 'postgresql://bot:s3cret@127.0.0.1/db'}\n"
    )
    r = botwatch("config", "show", "-c", str(cfg), env={"TOK": "12345:AAAAsecretpart"})
    assert r.returncode == 0, r.stderr
    assert "secretpart" not in r.stdout and "s3cret" not in r.stdout
    assert "token: '***'" in r.stdout
    assert "interval: 30s" in r.stdout  # defaults are filled in


@pytest.fixture
def health(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real bot health endpoint (the SDK's) in a child process, degraded on demand."""
    flag = tmp_path / "degraded"
    code = f"""
import asyncio, pathlib, sys
from botwatch.sdk import HealthServer, CheckResult

async def cache():
    if pathlib.Path({str(flag)!r}).exists():
        return CheckResult("degraded", "cache slow")
    return True

async def main():
    s = HealthServer("127.0.0.1", 0, version="9.9")
    s.add_check("cache", cache, critical=False)
    await s.start()
    print(s.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    port = int(p.stdout.readline())
    yield port, flag
    p.kill()
    p.wait()
    p.stdout.close()


def test_check_report_json_and_exit_codes(
    tmp_path: Path, health: tuple[int, Path], free_port: int
) -> None:
    port, flag = health
    cfg = tmp_path / "botwatch.yml"
    cfg.write_text(
        f"""
defaults: {{timeout: 3s}}
bots:
  good:
    health: http://127.0.0.1:{port}/health/json
    ports: [{port}]
  down:
    health: http://127.0.0.1:{free_port}/health/json
"""
    )
    r = botwatch("check", "good", "-c", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Health endpoint" in r.stdout and "Ports" in r.stdout and "Disk" in r.stdout
    assert "✓ health" in r.stdout and "HTTP 200, status HEALTHY" in r.stdout
    assert "✓ cache" in r.stdout

    flag.touch()
    r = botwatch("check", "good", "-c", str(cfg))
    assert r.returncode == 1  # DEGRADED is a warning
    assert "⚠ health" in r.stdout and "cache warn" in r.stdout and "cache slow" in r.stdout

    r = botwatch("check", "--json", "-c", str(cfg))
    assert r.returncode == 2
    report = json.loads(r.stdout)
    assert report["status"] == "crit" and report["exit_code"] == 2
    assert report["bots"]["good"]["status"] == "warn"
    down = report["bots"]["down"]["checks"]
    (h,) = [c for c in down if c["check"] == "health"]
    assert h["status"] == "crit" and "Connection refused" in h["reason"]
    good = {c["check"]: c for c in report["bots"]["good"]["checks"]}
    assert good["health"]["details"]["version"] == "9.9"
    assert good["health"]["section"] == "Health endpoint"
    assert {i["name"]: i["status"] for i in good["health"]["items"]} == {"cache": "warn"}


def test_check_unknown_bot_and_missing_config(tmp_path: Path) -> None:
    cfg = tmp_path / "botwatch.yml"
    cfg.write_text("bots:\n  a: {ports: [1]}\n")
    r = botwatch("check", "nosuch", "-c", str(cfg))
    assert r.returncode == 3 and "no bot named nosuch" in r.stderr and "known: a" in r.stderr
    r = botwatch("check", "-c", str(tmp_path / "missing.yml"))
    assert r.returncode == 2 and "no such file; create one with `botwatch init`" in r.stderr


def test_the_cli_default_config_path_is_the_config_default() -> None:
    from botwatch.cli._common import DEFAULT_PATH
    from botwatch.config import DEFAULT_CONFIG

    assert Path(DEFAULT_CONFIG) == DEFAULT_PATH
