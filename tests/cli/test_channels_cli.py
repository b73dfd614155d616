"""`botwatch channels list|test`: against a real loopback webhook receiver."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from botwatch.fakes.receivers import FakeWebhook


async def test_channels_test_sends_and_reports(
    tmp_path: Path, botwatch: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    import asyncio

    async with FakeWebhook() as hook:
        (tmp_path / "botwatch.yml").write_text(
            "channels:\n"
            f"  ops: {{kind: webhook, url: '{hook.base_url}/t', allow_private: true}}\n"
            f"  strict: {{kind: webhook, url: '{hook.base_url}/t'}}\n"
            "  pd: {kind: pagerduty, routing_key: secret-key-123}\n"
        )
        listed = (await asyncio.to_thread(botwatch, "channels", "list", cwd=tmp_path)).stdout
        assert "ops  webhook" in listed and "secret-key-123" not in listed
        ok = await asyncio.to_thread(botwatch, "channels", "test", "ops", cwd=tmp_path)
        assert ok.returncode == 0 and "sent a test notification to ops" in ok.stdout
        ((path, body, _),) = hook.received
        assert path == "/t" and body["alerts"][0]["labels"]["alertname"] == "BotwatchTest"
        hook.fail_next(500)
        bad = await asyncio.to_thread(botwatch, "channels", "test", "ops", cwd=tmp_path)
        assert bad.returncode == 1 and "HTTP 500" in bad.stdout
        refused = await asyncio.to_thread(botwatch, "channels", "test", "strict", cwd=tmp_path)
        assert refused.returncode == 1 and "is a private address" in refused.stdout
        missing = await asyncio.to_thread(botwatch, "channels", "test", "nope", cwd=tmp_path)
        assert (
            missing.returncode == 2
            and "no channel 'nope' (channels: ops, strict, pd)" in missing.stderr
        )
