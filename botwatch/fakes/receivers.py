"""Fakes of where notifications go: a webhook receiver and PagerDuty's Events API v2.

:class:`FakeWebhook` accepts any JSON POST (Alertmanager webhooks, Apprise's
``json://``) and records it; it honours ``Idempotency-Key`` (a repeated key is
acknowledged, not recorded twice) and can be told to fail the next requests with a
status, or to stall past a client's timeout.

:class:`FakePagerDuty` serves ``POST /v2/enqueue`` as PagerDuty does: ``202
{"status": "success", "message": "Event processed", "dedup_key": ...}``, ``400
{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``
for a malformed event or routing key, ``429`` when rate limited; it keeps one incident
per ``dedup_key`` (triggered, resolved) as PagerDuty does.
"""

from __future__ import annotations

__all__ = ["FakePagerDuty", "FakeWebhook"]

import asyncio
import json
import time
from collections import deque
from typing import Any

from aiohttp import web

from ._common import HttpFake


class FakeWebhook(HttpFake):
    """Records JSON POSTs to any path; ``received`` holds (path, body, headers)."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[str, Any, dict[str, str]]] = []
        self.received_at: list[float] = []
        self.attempts = 0
        self._fail: deque[int] = deque()
        self.stall = 0.0
        self._keys: set[str] = set()

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (then succeed again)."""
        self._fail.extend(statuses)

    def recover(self) -> None:
        """Drop the failures still queued by ``fail_next``: answer normally again."""
        self._fail.clear()

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        return app

    async def _post(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.stall:
            await asyncio.sleep(self.stall)
        if self._fail:
            status = self._fail.popleft()
            return web.json_response({"error": f"injected {status}"}, status=status)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        key = request.headers.get("Idempotency-Key")
        if key is not None and key in self._keys:
            return web.json_response({"status": "duplicate ignored"})
        if key is not None:
            self._keys.add(key)
        self.received.append((request.path, body, dict(request.headers)))
        self.received_at.append(time.time())
        return web.json_response({"status": "ok"})


class FakePagerDuty(HttpFake):
    """PagerDuty Events API v2 at ``{base_url}/v2/enqueue``."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []
        self.incidents: dict[str, str] = {}
        """dedup_key → ``triggered`` or ``resolved``."""
        self._fail: deque[int] = deque()

    def fail_next(self, *statuses: int) -> None:
        """Answer the next events with these statuses (429, 500...)."""
        self._fail.extend(statuses)

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._enqueue)
        return app

    async def _enqueue(self, request: web.Request) -> web.Response:
        if self._fail:
            status = self._fail.popleft()
            if status == 429:
                return web.json_response(
                    {
                        "status": "throttle event",
                        "message": "Requests for this service are arriving too quickly.",
                    },
                    status=429,
                )
            return web.Response(status=status, text="Internal Server Error")
        try:
            event = await request.json()
        except json.JSONDecodeError:
            return _invalid(["Event object is not valid JSON"])
        errors = []
        if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
            errors.append("'routing_key' is invalid")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        if action == "trigger":
            payload = event.get("payload") or {}
            for key in ("summary", "source", "severity"):
                if not payload.get(key):
                    errors.append(f"'payload.{key}' is missing or blank")
            if payload.get("severity") not in (None, "critical", "error", "warning", "info"):
                errors.append(
                    "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
                )
        elif not event.get("dedup_key"):
            errors.append("'dedup_key' is missing or blank")
        if errors:
            return _invalid(errors)
        key = event.get("dedup_key") or f"k{len(self.events)}"
        self.events.append(event)
        self.incidents[key] = {"trigger": "triggered", "resolve": "resolved"}.get(
            action, "acknowledged"
        )
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )


def _invalid(errors: list[str]) -> web.Response:
    return web.json_response(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status=400,
    )
