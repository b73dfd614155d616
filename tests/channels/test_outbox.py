"""The outbox delivered to real loopback receivers: webhooks, PagerDuty, Apprise."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from botwatch.channels import Notification, build_channel
from botwatch.channels.message import AlertInfo
from botwatch.channels.outbox import Deliverer
from botwatch.channels.pagerduty import dedup_key
from botwatch.clock import ManualClock
from botwatch.config.notify import ChannelSpec
from botwatch.fakes.receivers import FakePagerDuty, FakeWebhook
from botwatch.http import HttpClient
from botwatch.store import Store

PD_KEY = "a" * 32


def note(receiver: str, key: str, status: str = "firing", bot: str = "alpha") -> Notification:
    labels = {"alertname": "HealthUnhealthy", "bot": bot, "severity": "critical"}
    alert = AlertInfo("fp1", status, labels, {"summary": f"{bot}: health endpoint unhealthy"},
                      1_700_000_000.0, None if status == "firing" else 1_700_000_600.0, 503.0)  # fmt: skip
    return Notification(receiver, "0:{bot=\"alpha\"}", status, {"bot": bot}, [alert], key,
                        1_700_000_000.0, "http://127.0.0.1:8321/alerts", 0, labels,
                        {"summary": f"{bot}: health endpoint unhealthy"})  # fmt: skip


class World:
    def __init__(
        self, store: Store, hook: FakeWebhook, pd: FakePagerDuty, http: HttpClient
    ) -> None:
        self.store, self.hook, self.pd, self.http = store, hook, pd, http
        self.clock = ManualClock(start=time.time())
        specs = {
            "hook": ChannelSpec(kind="webhook", url=f"{hook.base_url}/alerts", allow_private=True, timeout=1.0),
            "pd": ChannelSpec(kind="pagerduty", routing_key=PD_KEY, url=f"{pd.base_url}/v2/enqueue"),
            "chat": ChannelSpec(url=f"json://{hook.base_url.removeprefix('http://')}/chat"),
            "private": ChannelSpec(kind="webhook", url=f"{hook.base_url}/x"),
        }  # fmt: skip
        channels = {name: build_channel(name, spec, http) for name, spec in specs.items()}
        self.deliverer = Deliverer(store, channels, clock=self.clock, backoff=1.0)

    def queue(self, *notes: Notification) -> None:
        self.store.outbox.enqueue(
            [(n.receiver, n.idempotency_key, n.to_json()) for n in notes], [], self.clock.time()
        )

    async def tick(self, advance: float = 0.0) -> list[tuple[str, str]]:
        self.clock.advance(advance)
        return [(o.receiver, o.result) for o in await self.deliverer.tick()]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = Store.open(f"sqlite:///{tmp_path / 'bw.db'}")
    async with FakeWebhook() as hook, FakePagerDuty() as pd, HttpClient() as http:
        yield World(store, hook, pd, http)
    store.dispose()


async def test_each_kind_gets_its_wire_format(world: World) -> None:
    world.queue(note("hook", "k1"), note("pd", "k1"), note("chat", "k1"))
    assert sorted(await world.tick()) == [("chat", "sent"), ("hook", "sent"), ("pd", "sent")]
    by_path = {path: (body, headers) for path, body, headers in world.hook.received}
    body, headers = by_path["/alerts"]
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hook"
    assert body["alerts"][0]["labels"]["bot"] == "alpha"
    assert body["alerts"][0]["startsAt"] == "2023-11-14T22:13:20Z"
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert headers["Idempotency-Key"] == "k1"
    (event,) = world.pd.events
    assert event["event_action"] == "trigger" and event["routing_key"] == PD_KEY
    assert event["payload"]["severity"] == "critical" and event["payload"]["source"] == "alpha"
    assert world.pd.incidents == {dedup_key(note("pd", "k1")): "triggered"}
    chat, _ = by_path["/chat"]  # Apprise's json:// format
    assert chat["title"] == "[FIRING:1] HealthUnhealthy alpha"
    assert "alpha: health endpoint unhealthy" in chat["message"] and chat["type"] == "failure"
    assert world.store.outbox.counts() == {"sent": 3}
    # Resolving closes the same PagerDuty incident.
    world.queue(note("pd", "k2", status="resolved"))
    await world.tick()
    assert world.pd.incidents == {dedup_key(note("pd", "k1")): "resolved"}


async def test_retries_back_off_and_never_resend_to_a_receiver_that_took_it(world: World) -> None:
    world.hook.fail_next(500, 503)
    world.queue(note("hook", "k1"), note("pd", "k1"))
    assert sorted(await world.tick()) == [("hook", "retry"), ("pd", "sent")]
    assert await world.tick(0.5) == []  # not due yet (1 s backoff)
    assert await world.tick(0.6) == [("hook", "retry")]  # second failure: 2 s now
    assert await world.tick(1.5) == []
    assert await world.tick(0.6) == [("hook", "sent")]
    assert len(world.pd.events) == 1 and len(world.hook.received) == 1
    (row,) = [r for r in world.store.outbox.rows() if r.receiver == "hook"]
    assert row.status == "sent" and row.attempts == 3 and row.last_error is None


async def test_a_refusal_is_not_retried(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, "botwatch.notify")
    world.hook.fail_next(400)
    world.queue(note("hook", "k1"))
    assert await world.tick() == [("hook", "failed")]
    assert await world.tick(3600) == []
    (row,) = world.store.outbox.rows()
    assert row.status == "failed" and "HTTP 400" in (row.last_error or "")
    assert "notification 1 to hook failed: hook: HTTP 400" in caplog.text
    # PagerDuty's own refusal of a malformed event is a failure too, not a retry.
    bad = note("pd", "k9")
    bad.alerts[0].labels["severity"] = "page-me"  # not a PagerDuty severity: sent as warning
    world.queue(bad)
    assert await world.tick() == [("pd", "sent")]


async def test_timeouts_retry_and_order_is_kept_per_receiver(world: World) -> None:
    world.hook.stall = 2.0  # past the channel's 1 s timeout
    world.queue(note("hook", "k1"), note("hook", "k2", status="resolved"))
    assert await world.tick() == [("hook", "retry"), ("hook", "waiting")]
    world.hook.stall = 0.0
    assert await world.tick(1.1) == [("hook", "sent"), ("hook", "sent")]
    statuses = [body["status"] for _, body, _ in world.hook.received]
    assert statuses == ["firing", "resolved"]


async def test_a_crash_mid_send_redelivers_once_where_the_receiver_dedups(world: World) -> None:
    world.queue(note("hook", "k1"))
    # botwatch claims the row, sends it, and dies before recording the outcome.
    (row,) = world.store.outbox.claim(world.clock.time(), world.deliverer.lease)
    await world.deliverer.channels["hook"].send(Notification.from_json(row.payload))
    assert await world.tick(1) == []  # still leased
    assert await world.tick(world.deliverer.lease) == [("hook", "sent")]  # claimed again
    assert world.hook.attempts == 2 and len(world.hook.received) == 1  # deduplicated


async def test_private_addresses_need_allowing(world: World) -> None:
    world.queue(note("private", "k1"), note("nowhere", "k1"))
    got = dict(await world.tick())
    assert got == {"private": "failed", "nowhere": "failed"}
    errors = {r.receiver: r.last_error for r in world.store.outbox.rows()}
    assert "is a private address (127.0.0.1); set allow_private: true" in (errors["private"] or "")
    assert errors["nowhere"] == "no channel named 'nowhere' in the config"
    assert world.hook.attempts == 0


def test_long_messages_fit_the_platform_limit() -> None:
    many: list[Any] = [
        AlertInfo(f"fp{i}", "firing", {"alertname": "BotProcessDown", "bot": f"bot{i}"},
                  {"summary": f"bot{i}: its process is not running " + "x" * 80}, 1.7e9)
        for i in range(100)
    ]  # fmt: skip
    n = Notification("r", "g", "firing", {}, many, "k", 1.7e9, "http://dash")
    text = n.text(2000)
    assert len(text) <= 2000 and text.endswith("http://dash")
    shown = text.count("🔴") + text.count("⚠️")
    assert f"…and {100 - shown} more" in text


def test_apprise_is_loaded_when_its_channel_is_built_never_at_the_first_alert() -> None:
    # Its import takes 0.3-2 s: at the first send it would stall the monitor's loop, and
    # every check and other receiver with it, just when an alert goes out. A monitor
    # with no Apprise channel never loads it. (A fresh process: this one may have.)
    import subprocess
    import sys

    script = """
import sys
from botwatch.channels import build_channel
from botwatch.config.notify import ChannelSpec
from botwatch.http import HttpClient
http = HttpClient()
build_channel("hook", ChannelSpec(kind="webhook", url="https://example.org/x"), http)
print("apprise" in sys.modules)
build_channel("chat", ChannelSpec(url="json://127.0.0.1:9/chat"), http)
print("apprise" in sys.modules)
"""
    got = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert got.stdout.split() == ["False", "True"]
