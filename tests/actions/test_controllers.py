"""Controllers for systemd, pm2, docker and your own commands, driven against stand-in
executables on PATH that record their arguments and answer like the real tools."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from botwatch.actions import controller_for
from botwatch.actions.controllers import Command, Docker, Pm2, Systemd
from botwatch.config import parse_config
from botwatch.errors import ActionError

STANDIN = """#!{python}
import json, os, pathlib, sys
home = pathlib.Path({home!r})
tool, args = pathlib.Path(sys.argv[0]).name, sys.argv[1:]
with open(home / "calls.log", "a") as f:
    f.write(tool + " " + " ".join(args) + "\\n")
state_file = home / "state.json"
state = json.loads(state_file.read_text()) if state_file.exists() else {{"mybot": False}}
def save():
    state_file.write_text(json.dumps(state))
def unknown(name):
    return name not in state
if tool == "systemctl":
    if args[0] == "is-active":
        sys.exit(0 if state.get(args[-1]) else 3)
    name = args[1]
    if unknown(name):
        print(f"Failed to {{args[0]}} {{name}}.service: Unit {{name}}.service not found.", file=sys.stderr)
        sys.exit(5)
    state[name] = args[0] != "stop"; save()
elif tool == "pm2":
    if args[0] == "jlist":
        print(json.dumps([{{"name": n, "pm2_env": {{"status": "online" if up else "stopped"}}}} for n, up in state.items()]))
        sys.exit(0)
    if unknown(args[1]):
        print(f"[PM2][ERROR] Process or Namespace {{args[1]}} not found", file=sys.stderr)
        sys.exit(1)
    state[args[1]] = args[0] != "stop"; save()
elif tool == "docker":
    name = args[-1]
    if unknown(name):
        print(f"Error response from daemon: No such container: {{name}}", file=sys.stderr)
        sys.exit(1)
    if args[0] == "inspect":
        print("true" if state[name] else "false")
        sys.exit(0)
    state[name] = args[0] != "stop"; save(); print(name)
"""


@pytest.fixture
def path_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("systemctl", "pm2", "docker"):
        exe = bin_dir / tool
        exe.write_text(STANDIN.format(python=sys.executable, home=str(tmp_path)))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


@pytest.mark.parametrize("kind", [Systemd, Pm2, Docker])
async def test_start_status_restart_stop(
    kind: type, tmp_path: Path, path_env: dict[str, str]
) -> None:
    c = kind("alpha", "mybot", env=path_env)
    assert await c.status() is False
    await c.start()
    assert await c.status() is True
    await c.restart()
    await c.stop()
    assert await c.status() is False
    tool = {Systemd: "systemctl", Pm2: "pm2", Docker: "docker"}[kind]
    verbs = [line.split()[1] for line in calls(tmp_path) if line.startswith(tool)]
    status = {"systemctl": "is-active", "pm2": "jlist", "docker": "inspect"}[tool]
    assert verbs == [status, "start", status, "restart", "stop", status]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (Systemd, "Unit nosuch.service not found."),
        (Pm2, "[PM2][ERROR] Process or Namespace nosuch not found"),
        (Docker, "No such container: nosuch"),
    ],
)
async def test_the_tools_own_error_is_reported(
    kind: type, message: str, path_env: dict[str, str]
) -> None:
    with pytest.raises(ActionError, match=r"alpha: restart failed \(.* exited \d\): .*") as info:
        await kind("alpha", "nosuch", env=path_env).restart()
    assert message in str(info.value)


async def test_a_missing_tool_says_so(tmp_path: Path) -> None:
    c = Systemd("alpha", "mybot", env={"PATH": str(tmp_path)})
    with pytest.raises(ActionError, match="alpha: systemctl is not installed"):
        await c.restart()


async def test_own_commands_and_restart_as_stop_then_start(tmp_path: Path) -> None:
    marker = tmp_path / "up"
    py = sys.executable
    c = Command("alpha", "alpha", commands={
        "start": f"{py} -c \"open({str(marker)!r}, 'w').close()\"",
        "stop": f"{py} -c \"import os; os.remove({str(marker)!r})\"",
        "status": f"{py} -c \"import os, sys; sys.exit(0 if os.path.exists({str(marker)!r}) else 1)\"",
    })  # fmt: skip
    await c.start()
    assert await c.status()
    await c.restart()  # no restart command: stop, then start
    assert marker.exists() and await c.status()
    await c.stop()
    assert not await c.status()
    with pytest.raises(ActionError, match="no 'restart' command"):
        await Command("b", "b", commands={"status": "true"}).restart()


def test_config_picks_the_controller(path_env: dict[str, str]) -> None:
    cfg = parse_config(
        "bots:\n"
        "  a: {process: {systemd: bot-a}}\n"
        "  b: {process: {pm2: bot-b}}\n"
        "  c: {process: {docker: bot-c, match: bot-c}}\n"
        "  d: {process: {commands: {restart: 'railway redeploy -y'}}}\n"
        "  e: {process: {match: foo}}\n"
        "  f: {run: {command: 'python bot.py'}}\n",
        "bw.yml",
        {},
    )
    found = {n: controller_for(n, s) for n, s in cfg.bots.items()}
    assert {n: (type(c).__name__, c.target) if c else None for n, c in found.items()} == {
        "a": ("Systemd", "bot-a"), "b": ("Pm2", "bot-b"), "c": ("Docker", "bot-c"),
        "d": ("Command", "d"), "e": None, "f": None,
    }  # fmt: skip
    assert json.dumps(found["d"].argv("restart")) == '["railway", "redeploy", "-y"]'  # type: ignore[union-attr]


def test_restart_command_uses_the_tool_and_records_who_and_why(
    tmp_path: Path, path_env: dict[str, str]
) -> None:
    import subprocess

    from botwatch.store import Store

    (tmp_path / "botwatch.yml").write_text(
        "storage: sqlite:///bw.db\nbots:\n  a: {process: {systemd: mybot}}\n  b: {process: {systemd: nosuch}}\n"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "botwatch", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60,
                              env={**path_env, "USER": "ana", "COLUMNS": "200"})  # fmt: skip

    ok = cli("restart", "a", "--why", "stuck after deploy")
    assert ok.returncode == 0, ok.stderr
    assert "a: restart via systemd" in ok.stdout
    assert "systemctl restart mybot" in calls(tmp_path)
    bad = cli("restart", "b")
    assert bad.returncode == 1 and "Unit nosuch.service not found." in bad.stderr
    with Store.open(f"sqlite:///{tmp_path / 'bw.db'}") as store:
        events = store.events(0, kind="action")
    assert [(e.bot, e.data["by"], e.data["why"], "error" in e.data) for e in events] == [
        ("a", "ana", "stuck after deploy", False),
        ("b", "ana", "restart from the command line", True),
    ]
