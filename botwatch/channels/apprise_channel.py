"""Human channels through Apprise: Discord, Slack, Telegram, email and the rest by URL.

Apprise speaks each service's API; botwatch gives it a title and a body already fitted
to the platform's length limit (Discord 2,000 characters, Telegram 4,096), so a storm
of alerts arrives as a readable message that says how many more there are.
"""

from __future__ import annotations

__all__ = ["AppriseChannel"]

import logging
from typing import TYPE_CHECKING

from botwatch.channels.base import Channel, register
from botwatch.channels.message import LIMITS, Notification
from botwatch.errors import ChannelError

if TYPE_CHECKING:
    from botwatch.config.notify import ChannelSpec
    from botwatch.http import HttpClient

_LIMIT_BY_SCHEME = {
    "discord": LIMITS["discord"], "tgram": LIMITS["telegram"], "telegram": LIMITS["telegram"],
    "slack": LIMITS["slack"],
}  # fmt: skip


@register
class AppriseChannel(Channel):
    """Notify every URL of the channel through Apprise."""

    kind = "apprise"
    acks = True

    def __init__(self, name: str, spec: ChannelSpec, http: HttpClient) -> None:
        super().__init__(name, spec, http)
        # Imported when the channel is built (start-up), not at its first send: the
        # import takes 0.3-2 s and would stall the monitor's loop, and with it every
        # check and the other receivers' sends, at the moment an alert goes out. Only
        # a monitor with an Apprise channel pays its memory.
        import apprise

        self._apprise = apprise

    def _urls(self) -> list[str]:
        return [u for u in (self.spec.url, *self.spec.urls) if u]

    def _limit(self) -> int:
        schemes = {u.split("://", 1)[0].lower() for u in self._urls()}
        return min((_LIMIT_BY_SCHEME.get(s, LIMITS["default"]) for s in schemes), default=4000)

    async def send(self, n: Notification) -> None:
        """Deliver ``n`` to every URL; any failure is a (retryable) ``ChannelError``."""
        apprise = self._apprise
        ap = apprise.Apprise()
        for url in self._urls():
            if not ap.add(url):
                raise ChannelError(
                    f"{self.name}: Apprise does not understand {url!r}", retryable=False
                )
        kind = (
            apprise.NotifyType.SUCCESS
            if n.status == "resolved"
            else apprise.NotifyType.INFO
            if n.status == "acknowledged"
            else (
                apprise.NotifyType.FAILURE
                if n.severity == "critical"
                else apprise.NotifyType.WARNING
            )
        )
        # Apprise reports failures only through its log: capture it for the reason.
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = await ap.async_notify(
                title=n.title(), body=n.text(self._limit()), notify_type=kind
            )
        if not ok:
            why = captured.getvalue().strip().splitlines()
            raise ChannelError(
                f"{self.name}: Apprise could not deliver" + (f": {why[-1]}" if why else ""),
                retryable=True,
            )
