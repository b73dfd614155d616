"""What every channel is: a small class with one required method, ``send()``.

Channels are plugins behind a registry, as probes are: a kind registers its class and
``build_channel`` makes one from a config entry. ``send`` raises ``ChannelError`` with
``retryable`` set the way the outbox needs it: a network failure, a timeout, a 5xx or
a 429 is worth trying again; any other 4xx is not (the request itself is wrong).
"""

from __future__ import annotations

__all__ = [
    "CHANNELS",
    "Channel",
    "build_channel",
    "channel_acks",
    "check_address",
    "raise_for_status",
    "register",
]

import asyncio
import ipaddress
from abc import ABC, abstractmethod
from typing import ClassVar, TypeVar
from urllib.parse import urlsplit

from botwatch.channels.message import Notification
from botwatch.config.notify import ChannelSpec
from botwatch.errors import ChannelError
from botwatch.http import HttpClient, HttpError, HttpResponse


class Channel(ABC):
    """One configured receiver."""

    kind: ClassVar[str]
    dedups: ClassVar[bool] = False
    """Whether the receiver drops a repeat of the same idempotency key (then a crash
    between sending and recording costs no duplicate)."""
    acks: ClassVar[bool] = False
    """Whether it is told when someone acknowledges an incident it was notified of
    (PagerDuty acknowledges its incident; a chat gets a line)."""

    def __init__(self, name: str, spec: ChannelSpec, http: HttpClient) -> None:
        self.name = name
        self.spec = spec
        self.http = http

    @abstractmethod
    async def send(self, n: Notification) -> None:
        """Deliver ``n``; raise ``ChannelError`` saying whether a retry may help."""

    async def post_json(
        self, url: str, payload: object, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """POST ``payload`` as JSON within the channel's timeout; a failure to get any
        answer is a retryable ``ChannelError``."""
        try:
            resp = await self.http.request(
                "POST",
                url,
                timeout=self.spec.timeout,
                json_body=payload,
                headers={**self.spec.headers, **(headers or {})},
                max_body=64_000,
            )
        except HttpError as e:
            raise ChannelError(f"{self.name}: {e}", retryable=True) from None
        raise_for_status(self.name, resp)
        return resp


CHANNELS: dict[str, type[Channel]] = {}
C = TypeVar("C", bound=type[Channel])


def register(cls: C) -> C:
    """Class decorator adding a channel kind to ``CHANNELS``."""
    CHANNELS[cls.kind] = cls
    return cls


def channel_acks(kind: str) -> bool:
    """Whether channels of ``kind`` are told of acknowledgements."""
    cls = CHANNELS.get(kind)
    return bool(cls is not None and cls.acks)


def build_channel(name: str, spec: ChannelSpec, http: HttpClient) -> Channel:
    """The channel for config entry ``name``."""
    return CHANNELS[spec.kind](name, spec, http)


def raise_for_status(what: str, resp: HttpResponse) -> None:
    """``ChannelError`` for a non-2xx answer, retryable for 408, 429 and 5xx."""
    if 200 <= resp.status < 300:
        return
    retryable = resp.status >= 500 or resp.status in (408, 429)
    body = resp.text().strip().replace("\n", " ")[:200]
    raise ChannelError(
        f"{what}: HTTP {resp.status} {resp.reason}".rstrip() + (f": {body}" if body else ""),
        retryable=retryable,
    )


async def check_address(url: str, allow_private: bool) -> None:
    """Refuse a URL whose host is private, loopback or link-local unless allowed, so
    a webhook cannot be pointed at the host's own services (``allow_private``)."""
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        # The loop's resolver: a blocking lookup here would stall every check.
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError as e:
        raise ChannelError(f"cannot resolve {host!r}: {e}", retryable=True) from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved:
            raise ChannelError(
                f"{host} is a private address ({addr}); set allow_private: true on the "
                "channel to send there",
                retryable=False,
            )
