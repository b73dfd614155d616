"""Shared test helpers: real services are used when reachable.

Tests that need PostgreSQL or Redis call ``require_service``: it skips with the reason
when the service is missing, unless ``BOTWATCH_REQUIRE_SERVICES=1`` (set by CI), where a
missing service is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import pytest

PG_URL = os.environ.get("BOTWATCH_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BOTWATCH_TEST_REDIS", "redis://127.0.0.1:6379/0")


def require_service(name: str, check: Callable[[], object]) -> None:
    """Skip (or fail under BOTWATCH_REQUIRE_SERVICES=1) unless ``check()`` succeeds."""
    try:
        check()
    except Exception as e:
        reason = f"{name} not available: {e.__class__.__name__}: {e}"
        if os.environ.get("BOTWATCH_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (BOTWATCH_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)


def tcp_open(host: str, port: int, timeout: float = 1.0) -> None:
    """Raise OSError unless something accepts TCP connections at host:port."""
    with socket.create_connection((host, port), timeout=timeout):
        pass


@pytest.fixture
def pg_url() -> str:
    """URL of the test PostgreSQL database (required in CI)."""
    require_service("PostgreSQL at 127.0.0.1:5432", lambda: tcp_open("127.0.0.1", 5432))
    return PG_URL


@pytest.fixture
def redis_url() -> str:
    """URL of the test Redis (required in CI)."""
    require_service("Redis at 127.0.0.1:6379", lambda: tcp_open("127.0.0.1", 6379))
    return REDIS_URL


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
