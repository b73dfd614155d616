"""The fakes as child processes, the way the demo runs them."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest


async def _run_until_ready(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        "-m",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    return proc, line.decode().strip()


async def _terminate(proc: asyncio.subprocess.Process) -> bytes:
    proc.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    return stderr


async def test_telegram_fake_as_a_process(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    ready = tmp_path / "state" / "telegram.url"
    proc, base = await _run_until_ready(
        "botwatch.fakes.telegram",
        "--port",
        "0",
        "--bot",
        "111:AAA:first_bot",
        "--bot",
        "222:BBB:@second_bot",
        "--ready-file",
        str(ready),
    )
    try:
        assert base.startswith("http://127.0.0.1:")
        assert ready.read_text().strip() == base
        async with http.get(f"{base}/bot222:BBB/getMe") as response:
            me = (await response.json())["result"]
        assert (me["id"], me["username"]) == (222, "second_bot")
        async with http.post(f"{base}/_fake/bots/111:AAA/faults", json={"block": [5]}) as response:
            assert response.status == 200
        async with http.post(
            f"{base}/bot111:AAA/sendMessage", json={"chat_id": 5, "text": "x"}
        ) as response:
            assert response.status == 403
        async with http.get(f"{base}/_fake/bots/111:AAA/stats") as response:
            assert (await response.json())["stats"]["403"] == 1
    finally:
        stderr = await _terminate(proc)
    assert proc.returncode == 0, stderr.decode()
    assert stderr == b""


async def test_discord_fake_as_a_process(http: aiohttp.ClientSession) -> None:
    proc, base = await _run_until_ready("botwatch.fakes.discord", "--bot", "dtok.abc:disco")
    try:
        headers = {"Authorization": "Bot dtok.abc"}
        async with http.get(f"{base}/api/v10/users/@me", headers=headers) as response:
            assert (await response.json())["username"] == "disco"
    finally:
        stderr = await _terminate(proc)
    assert proc.returncode == 0, stderr.decode()


@pytest.mark.parametrize("module", ["botwatch.fakes.telegram", "botwatch.fakes.discord"])
async def test_bad_bot_spec_is_a_usage_error(module: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "--bot",
        "no-username",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    assert b"expected TOKEN:USERNAME" in stderr
