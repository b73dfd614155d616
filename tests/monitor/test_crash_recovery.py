"""`kill -9` of botwatch while an alert fires and its notification is still queued:
after a restart it is delivered once, and nothing already delivered is sent again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

from botwatch.fakes.receivers import FakeWebhook
from botwatch.store import Store


async def test_kill_9_with_queued_notifications_loses_and_repeats_nothing(tmp_path: Path) -> None:
    state = {"down": False}

    async def health(request: web.Request) -> web.Response:
        if state["down"]:
            return web.json_response({"status": "UNHEALTHY"}, status=503)
        return web.json_response({"status": "HEALTHY"})

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async with FakeWebhook() as hook:
        (tmp_path / "botwatch.yml").write_text(
            f"storage: sqlite:///bw.db\n"
            f"defaults: {{interval: 1s, timeout: 1s}}\n"
            f"bots:\n  alpha:\n    health: http://127.0.0.1:{port}/health\n"
            f"    alerts: {{HealthUnhealthy: {{for: 0s}}}}\n"
            f"    checks: {{disk: {{enabled: false}}}}\n"
            f"alerting: {{interval: 1s}}\n"
            f"channels:\n  hook: {{kind: webhook, url: '{hook.base_url}/x', allow_private: true}}\n"
            f"route: {{receiver: hook, group_wait: 0s, group_interval: 1s}}\n"
        )

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen([sys.executable, "-m", "botwatch", "run"], cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

        async def until(cond: object, timeout: float = 30) -> None:
            deadline = time.monotonic() + timeout
            while not cond():  # type: ignore[operator]
                assert time.monotonic() < deadline, "timed out"
                await asyncio.sleep(0.05)

        hook.fail_next(*([503] * 1000))  # the receiver is down: the notification waits
        first = await asyncio.to_thread(start)
        try:
            await asyncio.sleep(3)
            state["down"] = True
            await until(lambda: hook.attempts >= 2)  # queued, retried, failing
        finally:
            os.kill(first.pid, signal.SIGKILL)  # no clean shutdown, no final flush
            await asyncio.to_thread(first.wait, 30)
        assert hook.received == []
        with Store.open(f"sqlite:///{tmp_path / 'bw.db'}") as store:
            (row,) = store.outbox.rows()
            assert row.status == "pending" and row.attempts >= 1

        hook.recover()  # the receiver is back
        second = await asyncio.to_thread(start)
        try:
            await until(lambda: len(hook.received) >= 1, timeout=60)
            await asyncio.sleep(4)  # time for any duplicate to show up
            firing = [b for _, b, _ in hook.received if b["status"] == "firing"]
            assert len(firing) == 1 and firing[0]["alerts"][0]["labels"]["bot"] == "alpha"
            state["down"] = False
            await until(lambda: any(b["status"] == "resolved" for _, b, _ in hook.received))
            await asyncio.sleep(2)
            assert [b["status"] for _, b, _ in hook.received] == ["firing", "resolved"]
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.to_thread(second.wait, 30)
    await runner.cleanup()
