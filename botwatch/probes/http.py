"""HTTP probe: status, latency, body cap; health JSON with HEALTHY/DEGRADED/UNHEALTHY.

A health endpoint that answers 200 with ``{"status": "DEGRADED"}`` is a warning, not
ok: the bot runs but something it needs is not right. Components (``checks``,
``components`` or ``services`` maps) are reported one by one.
"""

from __future__ import annotations

__all__ = ["HttpProbe"]

import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from yarl import URL

from botwatch.http import HttpError, HttpResponse
from botwatch.probes.base import (
    Item,
    Outcome,
    Probe,
    ProbeContext,
    Status,
    check_settings,
    register,
)

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

_WORDS = {
    "healthy": Status.OK, "ok": Status.OK, "up": Status.OK, "pass": Status.OK, "green": Status.OK,
    "degraded": Status.WARN, "warn": Status.WARN, "warning": Status.WARN, "yellow": Status.WARN,
    "unhealthy": Status.CRIT, "down": Status.CRIT, "fail": Status.CRIT, "error": Status.CRIT,
    "critical": Status.CRIT, "red": Status.CRIT,
}  # fmt: skip
_COMPONENT_KEYS = ("checks", "components", "services", "dependencies", "details")
_OK = Status.OK  # a module global: reading an enum member off its class costs more


_REASON_KEYS = ("message", "error", "reason", "output", "detail")
_REASON_KEY_SET = frozenset(_REASON_KEYS)
_STATUS_KEYS = ("status", "state", "healthy", "ok")
# The words as health documents spell them, for one exact lookup before normalising.
_EXACT = {**_WORDS, **{w.upper(): s for w, s in _WORDS.items()},
          **{w.title(): s for w, s in _WORDS.items()}}  # fmt: skip


def word_status(value: Any) -> Status | None:
    """``"DEGRADED"`` → WARN; booleans count too (``true`` is healthy)."""
    if value.__class__ is str:
        # A monitor judges thousands of documents a second; most say "healthy" or
        # "HEALTHY" exactly, and one dict lookup beats normalising every time.
        found = _EXACT.get(value)
        return found if found is not None else _WORDS.get(value.strip().lower())
    if isinstance(value, bool):
        return Status.OK if value else Status.CRIT
    if isinstance(value, str):
        return _WORDS.get(value.strip().lower())
    if isinstance(value, dict):
        for key in _STATUS_KEYS:
            if key in value:
                return word_status(value[key])
    return None


def _component_reason(value: Any) -> str:
    if isinstance(value, dict):
        if not _REASON_KEY_SET.isdisjoint(value):  # one C call for the usual "none of them"
            for key in _REASON_KEYS:
                text = value.get(key)
                if isinstance(text, str):
                    return text[:200]
        latency = value.get("latency_ms")
        if latency is None:
            latency = value.get("response_time_ms")
        if isinstance(latency, int | float):
            return f"{latency:g} ms"
    return ""


@register
class HttpProbe(Probe):
    """GET a URL; judge the status code and, for JSON bodies, the health document."""

    kind = "http"

    def __init__(
        self,
        *,
        url: str,
        expect_status: Sequence[int] = (200,),
        max_body: int = 1_000_000,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.url = url
        # Parsed once: aiohttp would parse the string again on every request.
        self._url: str | URL = url
        with contextlib.suppress(ValueError):
            self._url = URL(url)
        self.expect_status = tuple(expect_status)
        self.max_body = max_body
        self.headers = headers or None

    @property
    def target(self) -> str:
        """The URL checked."""
        return self.url

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """The bot's ``health`` endpoint, if it has one."""
        if spec.health is None:
            return ()
        enabled, interval, timeout = check_settings(
            bot, spec, loaded.config.defaults, "health", spec.health.timeout
        )
        if not enabled:
            return ()
        return [
            cls(
                bot=bot,
                name="health",
                url=spec.health.url,
                interval=interval,
                timeout=timeout,
                expect_status=spec.health.expect_status,
                headers=dict(spec.health.headers),
                max_body=spec.health.max_body or loaded.config.defaults.max_body,
            )
        ]

    async def check(self, ctx: ProbeContext) -> Outcome:
        """One GET, judged."""
        try:
            # Probe.run already holds this check to self.timeout; a second timer per
            # request is measurable at thousands of checks a second.
            resp = await ctx.http.get(
                self._url, timeout=None, max_body=self.max_body, headers=self.headers
            )
        except HttpError as e:  # HttpTimeout too
            # No response: status code 0, the blackbox exporter's convention.
            return Outcome(Status.CRIT, str(e), values={"http_status_code": 0})
        return self.judge(resp)

    def judge(self, resp: HttpResponse) -> Outcome:
        """The verdict on one response: status code, then the health document if any."""
        # Runs for every check of every bot: written for speed (see docs/monitor.md).
        code, body, truncated = resp.status, resp.body, resp.truncated
        values: dict[str, float] = {"http_status_code": code}
        details: dict[str, Any] = {"status_code": code, "bytes": len(body)}
        if truncated:
            details["truncated"] = True
        code_ok = code in self.expect_status
        if code_ok:
            status, reason = _OK, f"HTTP {code}"
        else:
            status = Status.CRIT
            reason = f"HTTP {code} {resp.reason}".strip() + f" (expected {self._expected()})"

        doc = None if truncated else self._json(body, resp)
        items: list[Item] = []
        if isinstance(doc, dict):
            raw = doc.get("status")
            if raw.__class__ is str:  # the usual document: {"status": "HEALTHY", ...}
                overall = _EXACT.get(raw)
                if overall is None:
                    overall = word_status(raw)
                word = raw
            else:
                overall = word_status(doc)
                word = str(doc["status"] if "status" in doc else doc.get("state", ""))
            version = doc.get("version")
            if version is not None and isinstance(version, str | int | float):
                details["version"] = str(version)
            items = self._components(doc)
            if overall is not None:
                values["health_status"] = float(overall)
                word = word or overall.label
                # The document's own verdict wins over the code only when it is worse
                # (a 200 saying UNHEALTHY is critical; a 503 saying healthy is still 503).
                if code_ok:
                    status = overall
                    reason = f"HTTP {code}, status {word}"
                else:
                    reason += f", status {word}"
            elif code_ok and items:
                status = Status.worst(i.status for i in items)
            if items:
                bad = [i for i in items if i.status is not _OK]
                if bad:
                    if code_ok and overall is _OK:
                        status = Status.WARN  # "healthy" overall, but a component is not
                    reason += "; " + ", ".join(f"{i.name} {i.status.label}" for i in bad[:3])
        elif truncated and code_ok:
            status = Status.WARN
            reason += f", body larger than {self.max_body} bytes (cut off)"
        elif code_ok and "json" in resp.content_type:
            status = Status.WARN
            reason += ", body is not valid JSON"
        details["latency_ms"] = round(resp.elapsed * 1000, 1)
        return Outcome(status, reason, details, values, items)

    def _expected(self) -> str:
        return "/".join(str(c) for c in self.expect_status)

    @staticmethod
    def _json(body: bytes, resp: HttpResponse) -> Any:
        """The body as JSON if it looks like JSON (by its first byte or its type)."""
        if not body:
            return None
        looks_like_json = body[:1] in b"{[" or body.lstrip()[:1] in (b"{", b"[")
        if not looks_like_json and "json" not in resp.content_type:
            return None
        try:
            # orjson: a monitor parses thousands of health documents a second, and it is
            # several times faster than the standard library on them.
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(body)  # what orjson refuses but Python accepts (NaN, huge ints)
        except ValueError:
            return None

    @staticmethod
    def _components(doc: dict[str, Any]) -> list[Item]:
        """Per-component verdicts from the first map of components the document has."""
        for key in _COMPONENT_KEYS:
            comps = doc.get(key)
            if not isinstance(comps, dict):
                continue
            out = []
            for name, value in comps.items():
                if isinstance(value, dict):
                    # The usual component, {"status": "healthy", ...}: one lookup for the
                    # word instead of word_status()'s walk (this runs for every component
                    # of every check).
                    word = value.get("status")
                    st = _EXACT.get(word) if word.__class__ is str else None
                    if st is None:
                        st = word_status(value)
                    if st is not None:
                        out.append(Item(str(name), st, _component_reason(value)))
                else:
                    st = word_status(value)
                    if st is not None:
                        out.append(Item(str(name), st, ""))
            if out:
                return out
        return []
