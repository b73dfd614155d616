"""The process probe against real child processes and pidfiles."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest

from botwatch.config import Config, LoadedConfig
from botwatch.probes import PROBES, ProbeContext, Status, build_probes
from botwatch.probes.process import ProcessProbe
from botwatch.sampler import sample_tree

MB = 1024 * 1024


class Children:
    """``python -c`` children in their own process groups, killed with them at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def spawn(self, body: str = "", marker: str = "") -> subprocess.Popen[str]:
        code = f"# {marker}\nimport time\n{body}\nprint('ready', flush=True)\ntime.sleep(600)\n"
        p = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        self.procs.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        return p

    def stop(self, p: subprocess.Popen[str]) -> None:
        p.kill()
        p.wait()

    def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            if p.stdout is not None:
                p.stdout.close()


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    try:
        yield kids
    finally:
        kids.close()


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


def probe_for(tmp_path: Path, bot: dict[str, object]) -> ProcessProbe:
    loaded = LoadedConfig(
        Config.model_validate({"bots": {"b": bot}}), tmp_path / "botwatch.yml", tmp_path
    )
    (probe,) = ProcessProbe.from_bot("b", loaded.config.bots["b"], loaded)
    assert isinstance(probe, ProcessProbe)
    return probe


def pidfile(tmp_path: Path, pid: int) -> str:
    (tmp_path / "bot.pid").write_text(f"{pid}\n")
    return "bot.pid"


async def test_alive_is_ok_with_resources(
    children: Children, ctx: ProbeContext, tmp_path: Path
) -> None:
    child = children.spawn()
    probe = probe_for(tmp_path, {"process": {"pidfile": pidfile(tmp_path, child.pid)}})
    assert probe.target == str(tmp_path / "bot.pid")
    result = await probe.run(ctx)
    assert result.status is Status.OK, result.reason
    assert result.reason.startswith(f"pid {child.pid} up ")
    d = result.details
    assert (d["pid"], d["found_by"], d["children"], d["restarts_seen"]) == (
        child.pid,
        "pidfile",
        0,
        0,
    )
    for key in ("cpu_percent", "rss", "threads", "open_files", "uptime"):
        assert key in d
    values = {s.name: s.value for s in result.samples}
    assert values["process_up"] == 1
    assert values["process_pid"] == child.pid
    assert values["process_restarts_total"] == 0
    assert values["probe_up"] == 1
    # Resource series have one source, the sampler (labelled {bot} only).
    assert not any(name.startswith("process_rss") for name in values)
    assert all(s.labels == {"bot": "b", "check": "process"} for s in result.samples)


async def test_not_found_is_critical(ctx: ProbeContext, tmp_path: Path) -> None:
    probe = probe_for(tmp_path, {"process": {"pidfile": "missing.pid"}})
    result = await probe.run(ctx)
    assert result.status is Status.CRIT
    assert result.reason == f"pidfile {tmp_path / 'missing.pid'} does not exist"
    values = {s.name: s.value for s in result.samples}
    assert values["process_up"] == 0 and values["probe_up"] == 0


async def test_match(children: Children, ctx: ProbeContext, tmp_path: Path) -> None:
    marker = f"botwatch-test-{uuid.uuid4().hex[:12]}"
    child = children.spawn(marker=marker)
    probe = probe_for(tmp_path, {"process": {"match": marker}})
    assert probe.target == f"/{marker}/"
    result = await probe.run(ctx)
    assert result.status is Status.OK
    assert result.details["pid"] == child.pid
    assert result.details["matches"] == 1


async def test_restart_is_counted(children: Children, ctx: ProbeContext, tmp_path: Path) -> None:
    first = children.spawn()
    probe = probe_for(tmp_path, {"process": {"pidfile": pidfile(tmp_path, first.pid)}})
    assert (await probe.run(ctx)).details["restarts_seen"] == 0
    assert (await probe.run(ctx)).details["restarts_seen"] == 0  # same process: no restart

    children.stop(first)
    down = await probe.run(ctx)
    assert down.status is Status.CRIT and "is not running" in down.reason

    second = children.spawn()
    pidfile(tmp_path, second.pid)
    up = await probe.run(ctx)
    assert up.status is Status.OK
    assert up.details["restarts_seen"] == 1
    assert f"restarted (pid {first.pid} → {second.pid})" in up.reason
    assert {s.name: s.value for s in up.samples}["process_restarts_total"] == 1
    assert ctx.state[("b", "process")]["pid"] == second.pid
    again = await probe.run(ctx)
    assert again.details["restarts_seen"] == 1 and "restarted" not in again.reason


async def test_restart_found_by_match(
    children: Children, ctx: ProbeContext, tmp_path: Path
) -> None:
    marker = f"botwatch-test-{uuid.uuid4().hex[:12]}"
    first = children.spawn(marker=marker)
    probe = probe_for(tmp_path, {"process": {"match": marker}})
    assert (await probe.run(ctx)).details["pid"] == first.pid
    assert (await probe.run(ctx)).details["restarts_seen"] == 0
    children.stop(first)
    second = children.spawn(marker=marker)
    up = await probe.run(ctx)
    assert (up.status, up.details["pid"], up.details["restarts_seen"]) == (Status.OK, second.pid, 1)


async def test_memory_limit(children: Children, ctx: ProbeContext, tmp_path: Path) -> None:
    child = children.spawn(f"blob = b'x' * {48 * MB}")
    rss = sample_tree(psutil.Process(child.pid)).rss
    pid = pidfile(tmp_path, child.pid)

    crit = await probe_for(
        tmp_path, {"process": {"pidfile": pid}, "limits": {"memory": rss // 2}}
    ).run(ctx)
    assert crit.status is Status.CRIT
    assert "is above the limit" in crit.reason

    warn = await probe_for(
        tmp_path, {"process": {"pidfile": pid}, "limits": {"memory": int(rss / 0.95)}}
    ).run(ctx)
    assert warn.status is Status.WARN
    assert "% of the limit" in warn.reason

    ok = await probe_for(
        tmp_path, {"process": {"pidfile": pid}, "limits": {"memory": rss * 4}}
    ).run(ctx)
    assert ok.status is Status.OK


async def test_cpu_and_open_files_limits_warn(
    children: Children, ctx: ProbeContext, tmp_path: Path
) -> None:
    child = children.spawn(
        "import os, threading\n"
        "files = [open(os.devnull) for _ in range(20)]\n"
        "threading.Thread(target=lambda: [None for _ in iter(int, 1)], daemon=True).start()\n"
        "end = time.process_time() + 0.2\n"
        "while time.process_time() < end: pass\n"  # some CPU already used at first sight
    )
    probe = probe_for(
        tmp_path,
        {
            "process": {"pidfile": pidfile(tmp_path, child.pid)},
            "limits": {"cpu_percent": 0.01, "open_files": 5},
        },
    )
    result = await probe.run(ctx)
    assert result.status is Status.WARN, result.reason
    assert "cpu" in result.reason and "is above the limit 0.01%" in result.reason
    assert "open files, above the limit 5" in result.reason


async def test_controllers_alone_are_unknown(ctx: ProbeContext, tmp_path: Path) -> None:
    probe = probe_for(tmp_path, {"process": {"systemd": "bot.service"}})
    assert probe.target == "systemd:bot.service"
    result = await probe.run(ctx)
    assert result.status is Status.UNKNOWN
    assert result.reason.startswith("systemd/pm2/docker controllers are not supported yet")


def test_which_bots_get_a_process_probe(tmp_path: Path) -> None:
    loaded = LoadedConfig(Config.model_validate({"bots": {
        "plain": {"health": "http://127.0.0.1:1/health"},
        "managed": {"run": {"command": "python bot.py"}},
        "observed": {"process": {"match": "bot"}},
        "off": {"process": {"match": "bot"}, "checks": {"process": {"enabled": False}}},
        "slow": {"process": {"match": "bot"}, "checks": {"process": {"interval": "2m"}}},
    }}), tmp_path / "botwatch.yml", tmp_path)  # fmt: skip
    probes = [p for p in build_probes(loaded) if p.kind == "process"]
    assert [p.bot for p in probes] == ["managed", "observed", "slow"]
    assert probes[-1].interval == 120
    assert next(iter(PROBES)) == "process"  # process comes first in reports
