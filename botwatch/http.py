"""The one seam for outgoing HTTP: an aiohttp session with hard timeouts and a body cap.

Every probe, channel and client goes through ``HttpClient`` so tests can point it at
loopback servers and benchmarks measure the same path production uses. aiohttp was
chosen over httpx for its client's throughput at high concurrency (see DESIGN.md).
"""

from __future__ import annotations

__all__ = ["HttpClient", "HttpError", "HttpResponse", "HttpTimeout"]

import asyncio
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from yarl import URL

from botwatch.errors import BotwatchError


class HttpError(BotwatchError):
    """The request failed before a response arrived (refused, reset, DNS, TLS)."""


class HttpTimeout(HttpError):
    """No complete response within the timeout."""


@dataclass(slots=True)  # not frozen: built for every check, and frozen init is 6x slower
class HttpResponse:
    """A response read (at most ``max_body`` bytes of its body). Treat as read-only."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    truncated: bool
    elapsed: float

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased."""
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def text(self) -> str:
        """The body decoded as UTF-8, with undecodable bytes replaced."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body)


async def _read_up_to(stream: aiohttp.StreamReader, n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at the end of the body.

    ``StreamReader.read(n)`` returns what is buffered (often one chunk), not ``n`` bytes.
    """
    chunks: list[bytes] = []
    size = 0
    while size < n:
        chunk = await stream.read(n - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _connect_reason(e: aiohttp.ClientConnectorError) -> str:
    err = e.os_error
    why = err.strerror or str(e)
    if err.errno and why.startswith("Connect call failed"):
        # asyncio words every failed connect the same way; the errno says what happened.
        why = os.strerror(err.errno)
    return why


class HttpClient:
    """A shared aiohttp session. Create once per process; ``async with`` closes it."""

    def __init__(
        self,
        *,
        limit: int = 200,
        session: aiohttp.ClientSession | None = None,
        user_agent: str = "botwatch",
    ) -> None:
        self._own = session is None
        self._session = session
        self._limit = limit
        self._headers = {"User-Agent": user_agent}

    @property
    def session(self) -> aiohttp.ClientSession:
        """The underlying session, created lazily inside the running loop."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=0, ttl_dns_cache=300)
            # No aiohttp timeouts: every request is bounded by asyncio.timeout (ours or the
            # caller's), and each extra timer costs the event loop at thousands of checks/s.
            # No cookie jar: a check must not depend on what an earlier check was told to
            # remember, and the jar's per-request filtering is measurable at that rate.
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        timeout: float | None,
        max_body: int = 1_000_000,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
    ) -> HttpResponse:
        """Send one request and read the response, never taking longer than ``timeout``.

        ``timeout=None`` means the caller already bounds this call (a probe inside
        ``Probe.run``); it must be said explicitly so no request is left unbounded.
        Raises ``HttpTimeout`` or ``HttpError`` with a one-line reason a person can act on.
        """
        start = time.perf_counter()
        try:
            if timeout is None:
                return await self._send(method, url, start, max_body, headers, json_body, data)
            async with asyncio.timeout(timeout):
                return await self._send(method, url, start, max_body, headers, json_body, data)
        except TimeoutError:
            if timeout is None:
                raise  # the caller's deadline: let its own handler report it
            raise HttpTimeout(f"no response within {timeout:g}s") from None
        except aiohttp.ClientConnectorError as e:
            raise HttpError(f"cannot connect: {_connect_reason(e)}") from None
        except aiohttp.ServerDisconnectedError:
            raise HttpError("server closed the connection without a response") from None
        except aiohttp.ClientPayloadError as e:
            raise HttpError(f"broken response body: {e}") from None
        except aiohttp.InvalidURL as e:
            raise HttpError(f"invalid URL: {e}") from None
        except aiohttp.ClientResponseError as e:
            raise HttpError(f"invalid response: {e.message}") from None
        except aiohttp.ClientError as e:
            raise HttpError(f"request failed: {e.__class__.__name__}: {e}") from None

    async def _send(
        self,
        method: str,
        url: str | URL,
        start: float,
        max_body: int,
        headers: Mapping[str, str] | None,
        json_body: Any,
        data: Any,
    ) -> HttpResponse:
        async with self.session.request(
            method, url, headers=headers, json=json_body, data=data, allow_redirects=True
        ) as resp:
            length = resp.content_length
            if length is not None and length <= max_body:
                body = await resp.read()  # announced and small enough: one read
            else:
                body = await _read_up_to(resp.content, max_body + 1)
            return HttpResponse(
                status=resp.status,
                reason=resp.reason or "",
                # The response's own read-only, case-insensitive view: no copy per request.
                headers=resp.headers,
                body=body[:max_body],
                truncated=len(body) > max_body,
                elapsed=time.perf_counter() - start,
            )

    async def get(
        self,
        url: str | URL,
        *,
        timeout: float | None,
        max_body: int = 1_000_000,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """``request("GET", ...)``."""
        return await self.request("GET", url, timeout=timeout, max_body=max_body, headers=headers)

    async def close(self) -> None:
        """Close the session if this client created it."""
        if self._session is not None and self._own:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
