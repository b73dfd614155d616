"""Discord probe: does the bot token still log in?

``GET /users/@me`` with ``Authorization: Bot TOKEN`` is the cheapest call that proves
the token works; it does not touch the gateway, so it can't disturb the running bot.
"""

from __future__ import annotations

__all__ = ["DiscordProbe"]

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botwatch.config.loader import redact_text
from botwatch.errors import BotwatchError
from botwatch.http import HttpError
from botwatch.probes.base import Outcome, Probe, ProbeContext, Status, check_settings, register

if TYPE_CHECKING:
    from botwatch.config import BotConfig, LoadedConfig

DEFAULT_API = "https://discord.com/api/v10"
_MAX_BODY = 256_000


@register
class DiscordProbe(Probe):
    """``GET {api}/users/@me`` as the bot."""

    kind = "discord"

    def __init__(self, *, token: str, api_url: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._token = token
        self.api_url = (api_url or DEFAULT_API).rstrip("/")

    @property
    def target(self) -> str:
        """The URL checked (the token is sent in a header, never in the URL)."""
        return f"{self.api_url}/users/@me"

    @classmethod
    def from_bot(cls, bot: str, spec: BotConfig, loaded: LoadedConfig) -> Sequence[Probe]:
        """One ``discord`` check for ``kind: discord`` bots that have a token."""
        if spec.kind != "discord" or spec.token is None or not spec.token.get_secret_value():
            return ()
        enabled, interval, timeout = check_settings(bot, spec, loaded.config.defaults, "discord")
        if not enabled:
            return ()
        return [
            cls(
                bot=bot,
                name="discord",
                token=spec.token.get_secret_value(),
                api_url=spec.api_url,
                interval=interval,
                timeout=timeout,
            )
        ]

    def _redact(self, text: str) -> str:
        text = text.replace(self._token, "***") if self._token else text
        return redact_text(text)

    async def check(self, ctx: ProbeContext) -> Outcome:
        """One authenticated GET, judged by status code."""
        # Probe.run() maps errors the same way but reports their text as is, and a URL
        # in it would carry the token.
        try:
            return await self._check(ctx)
        except BotwatchError as e:
            return Outcome(Status.CRIT, self._redact(str(e)))
        except Exception as e:
            return Outcome(Status.UNKNOWN, self._redact(f"probe failed: {type(e).__name__}: {e}"))

    async def _check(self, ctx: ProbeContext) -> Outcome:
        try:
            resp = await ctx.http.get(
                self.target,
                timeout=self.timeout,
                max_body=_MAX_BODY,
                headers={"Authorization": f"Bot {self._token}"},
            )
        except HttpError as e:
            return Outcome(Status.CRIT, self._redact(str(e)), values={"discord_up": 0})
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        doc = doc if isinstance(doc, dict) else {}
        details: dict[str, Any] = {"status_code": resp.status}
        values: dict[str, float] = {"discord_up": 0, "discord_response_seconds": resp.elapsed}
        if resp.status == 200 and doc.get("id"):
            username = str(doc.get("username") or "?")
            details.update(username=username, id=str(doc["id"]), bot=bool(doc.get("bot", False)))
            values["discord_up"] = 1
            return Outcome(Status.OK, f"logged in as {username} ({doc['id']})", details, values)
        message = self._redact(str(doc.get("message") or ""))
        if message:
            details["message"] = message
        if resp.status == 401:
            return Outcome(Status.CRIT, "invalid token (401 Unauthorized)", details, values)
        if resp.status == 429:
            retry = doc.get("retry_after", resp.headers.get("Retry-After"))
            details["retry_after"] = retry
            details["global"] = bool(doc.get("global", False))
            values["discord_up"] = 1  # throttled, but the token and the API work
            after = f", retry after {retry}s" if retry is not None else ""
            return Outcome(Status.WARN, f"rate limited by Discord (429){after}", details, values)
        if resp.status == 200:
            return Outcome(Status.CRIT, "HTTP 200 but not a Discord user object", details, values)
        what = f"HTTP {resp.status} {resp.reason}".strip()
        if resp.status >= 500:
            return Outcome(Status.CRIT, f"Discord API unavailable ({what})", details, values)
        return Outcome(Status.CRIT, f"{what}: {message}" if message else what, details, values)
