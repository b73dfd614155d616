"""Telegram probe: is the token valid, and is the bot consuming its updates?

``getMe`` proves the token works (and names the bot); ``getWebhookInfo`` tells how many
updates wait undelivered and, in webhook mode, the last delivery error Telegram saw.
The probe never calls ``getUpdates``: that would steal updates from a polling bot and
cause the very 409 Conflict it looks for. A 409 from any call is still reported as is.

Thresholds for updates waiting (``pending_update_count``): more than 100 is a warning
(the bot is behind or not polling), more than 1000 critical (it has been down for a
while, or its webhook keeps failing; Telegram drops updates after 24 hours).
"""

from __future__ import annotations

__all__ = ["TelegramProbe", "redact_token"]

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botwatch.config.loader import redact_text
from botwatch.config.units import format_duration
from botwatch.errors import BotwatchError
from botwatch.http import HttpError, HttpResponse
from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

DEFAULT_API = "https://api.telegram.org"
_MAX_BODY = 256_000


def redact_token(text: str, token: str) -> str:
    """``text`` with ``token`` replaced by ``123:***`` (the bot id stays, it is public)."""
    if not token:
        return text
    bot_id, sep, _ = token.partition(":")
    return text.replace(token, f"{bot_id}:***" if sep else "***")


@register
class TelegramProbe(Probe):
    """``getMe`` + ``getWebhookInfo`` against the Bot API."""

    kind = "telegram"

    def __init__(
        self,
        *,
        token: str,
        api_url: str | None = None,
        pending_warn: int = 100,
        pending_crit: int = 1000,
        webhook_error_window: float = 600.0,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self._token = token
        base = (api_url or DEFAULT_API).rstrip("/")
        # python-telegram-bot's base_url ends in "/bot" (it appends the token); accept
        # that spelling too, so the value can be copied from the bot's own settings.
        self.api_url = base.removesuffix("/bot")
        self.pending_warn = pending_warn
        self.pending_crit = pending_crit
        self.webhook_error_window = webhook_error_window

    @property
    def target(self) -> str:
        """The Bot API base with the token redacted."""
        return self._redact(f"{self.api_url}/bot{self._token}")

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One ``telegram`` check for ``kind: telegram`` bots that have a token."""
        if spec.kind != "telegram" or spec.token is None or not spec.token.get_secret_value():
            return ()
        enabled, interval, timeout = check_settings(bot, spec, loaded.config.defaults, "telegram")
        if not enabled:
            return ()
        return [
            cls(
                bot=bot,
                name="telegram",
                token=spec.token.get_secret_value(),
                api_url=spec.api_url,
                interval=interval,
                timeout=timeout,
            )
        ]

    def _redact(self, text: str) -> str:
        return redact_text(redact_token(text, self._token))

    async def _call(self, ctx: ProbeContext, method: str) -> tuple[HttpResponse, Any] | Outcome:
        """The response and its ``result``, or the Outcome that explains the failure."""
        url = f"{self.api_url}/bot{self._token}/{method}"
        try:
            resp = await ctx.http.get(url, timeout=self.timeout, max_body=_MAX_BODY)
        except HttpError as e:
            # aiohttp puts the URL (with the token) in some messages.
            return Outcome(
                Status.CRIT, f"{method}: {self._redact(str(e))}", values={"telegram_up": 0}
            )
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("ok") is True and resp.status == 200:
            return resp, doc.get("result")
        return self._failure(method, resp, doc if isinstance(doc, dict) else None)

    def _failure(self, method: str, resp: HttpResponse, doc: dict[str, Any] | None) -> Outcome:
        code = resp.status
        desc = ""
        params: dict[str, Any] = {}
        if doc is not None:
            if isinstance(doc.get("error_code"), int):
                code = doc["error_code"]
            desc = self._redact(str(doc.get("description") or ""))
            if isinstance(doc.get("parameters"), dict):
                params = doc["parameters"]
        details: dict[str, Any] = {"method": method, "status_code": resp.status}
        if desc:
            details["description"] = desc
        # The API's own code (401 invalid token, 409 two instances, 429, 5xx) as a
        # series, so a rule can tell them apart; 0 on success.
        values: dict[str, float] = {"telegram_up": 0, "telegram_error_code": code}
        if code == 401:
            return Outcome(Status.CRIT, "invalid token (401 Unauthorized)", details, values)
        if code == 404:
            # The Bot API answers 404 for a malformed token or a wrong api_url.
            return Outcome(Status.CRIT, "invalid token or API URL (404 Not Found)", details, values)
        if code == 409:
            return Outcome(Status.CRIT, desc or "409 Conflict", details, values)
        if code == 429:
            retry = params.get("retry_after", resp.headers.get("Retry-After"))
            details["retry_after"] = retry
            # Rate limited means the token works: the bot is up, just throttled.
            values["telegram_up"] = 1
            after = f", retry after {retry}s" if retry is not None else ""
            return Outcome(Status.WARN, f"rate limited by Telegram (429){after}", details, values)
        if code >= 500 or doc is None:
            what = f"HTTP {resp.status} {resp.reason}".strip()
            if doc is None and resp.status < 500:
                what += ", not a Bot API response"
            return Outcome(
                Status.CRIT, f"{method}: Telegram API unavailable ({what})", details, values
            )
        return Outcome(
            Status.CRIT, f"{method}: error {code}: {desc or resp.reason}", details, values
        )

    async def check(self, ctx: ProbeContext) -> Outcome:
        """``getMe``, then ``getWebhookInfo``; judged together."""
        # Probe.run() maps errors the same way but reports their text as is, and a URL
        # in it would carry the token.
        try:
            return await self._check(ctx)
        except BotwatchError as e:
            return Outcome(Status.CRIT, self._redact(str(e)))
        except Exception as e:
            return Outcome(Status.UNKNOWN, self._redact(f"probe failed: {type(e).__name__}: {e}"))

    async def _check(self, ctx: ProbeContext) -> Outcome:
        got = await self._call(ctx, "getMe")
        if isinstance(got, Outcome):
            return got
        resp, me = got
        me = me if isinstance(me, dict) else {}
        username = str(me.get("username") or me.get("first_name") or "?")
        details: dict[str, Any] = {"username": username, "id": me.get("id")}
        values: dict[str, float] = {
            "telegram_up": 1,
            "telegram_error_code": 0,
            "telegram_response_seconds": resp.elapsed,
        }

        got = await self._call(ctx, "getWebhookInfo")
        if isinstance(got, Outcome):
            got.details = {**details, **got.details}
            got.values = {**values, **got.values, "telegram_up": 1}
            got.reason = f"@{username}: {got.reason}"
            return got
        _, info = got
        info = info if isinstance(info, dict) else {}
        webhook = str(info.get("url") or "")
        pending = int(info.get("pending_update_count") or 0)
        details["mode"] = "webhook" if webhook else "polling"
        if webhook:
            details["webhook_url"] = self._redact(webhook)
        details["pending_updates"] = pending
        values["telegram_pending_updates"] = pending

        status = Status.OK
        problems: list[str] = []
        waiting = "waiting for the webhook" if webhook else "waiting to be fetched"
        if pending > self.pending_crit:
            status = Status.CRIT
            problems.append(f"{pending} updates {waiting} (more than {self.pending_crit})")
        elif pending > self.pending_warn:
            status = Status.WARN
            problems.append(f"{pending} updates {waiting} (more than {self.pending_warn})")

        err_date = info.get("last_error_date")
        if isinstance(err_date, int | float) and err_date > 0:
            age = max(0.0, ctx.clock.time() - float(err_date))
            message = self._redact(str(info.get("last_error_message") or "unknown error"))
            details["last_error"] = message
            details["last_error_date"] = err_date
            values["telegram_webhook_last_error_age_seconds"] = age
            if age <= self.webhook_error_window:
                status = Status.worst((status, Status.WARN))
                problems.append(f"webhook error {format_duration(age)} ago: {message}")

        if problems:
            reason = f"@{username}: " + "; ".join(problems)
        else:
            reason = f"@{username} ok, {details['mode']}, {pending} pending updates"
        return Outcome(status, reason, details=details, values=values)
