"""Store fixtures: every store test runs on a fresh SQLite file and a fresh PostgreSQL schema."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from botwatch.clock import ManualClock
from botwatch.store import Store

# An hour boundary, so minute and hour buckets line up with the test data.
T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600


def _pg_schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def _unavailable(reason: str) -> None:
    # As tests/conftest.py's require_service: a skip locally, a failure in CI.
    if os.environ.get("BOTWATCH_REQUIRE_SERVICES") == "1":
        pytest.fail(reason + " (BOTWATCH_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a new schema in the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/data/botwatch.db"
        return
    base: str = request.getfixturevalue("pg_url")  # skips (or fails in CI) if unreachable
    try:
        psycopg.connect(base, connect_timeout=5).close()
    except psycopg.Error as e:
        _unavailable(f"PostgreSQL not reachable at {base}: {e}")
    schema = f"bw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _pg_schema_url(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def clock() -> ManualClock:
    """The store's clock, starting at an hour boundary."""
    return ManualClock(T0)


@pytest.fixture
async def store(store_url: str, clock: ManualClock) -> AsyncIterator[Store]:
    """An open store with its writer running."""
    st = Store.open(store_url, clock=clock)
    await st.start()
    try:
        yield st
    finally:
        await st.close()


@pytest.fixture
def lock_database() -> Callable[[str], contextlib.AbstractContextManager[None]]:
    """``with lock_database(url):`` holds a lock that stops every writer of ``url``."""
    return _lock_database


@contextlib.contextmanager
def _lock_database(url: str) -> Iterator[None]:
    """Hold a lock that stops every writer of ``url`` until the block ends.

    SQLite: another connection in ``BEGIN EXCLUSIVE``. PostgreSQL: another session
    holding ``ACCESS EXCLUSIVE`` on the samples table.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        conn = sqlite3.connect(parsed.database, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    options = parsed.query["options"]
    assert isinstance(options, str)
    plain = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    with psycopg.connect(plain, options=options) as pg:
        pg.execute("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
        yield
        pg.rollback()
