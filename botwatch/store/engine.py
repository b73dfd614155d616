"""Engines for SQLite and PostgreSQL, and the mapping of driver errors to ours.

Two engines per store: one for writing (the writer thread, rollup, retention,
migrations) and one for reading. On SQLite they differ in how a transaction begins:
writers take the write lock up front (``BEGIN IMMEDIATE``) so a read-then-write
transaction never fails halfway with an un-retryable ``SQLITE_BUSY``; readers begin a
plain deferred transaction and, under WAL, never block the writer.
"""

from __future__ import annotations

__all__ = [
    "Engines",
    "describe",
    "is_transient",
    "make_engines",
    "normalize_url",
    "store_errors",
]

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, exc, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from botwatch.errors import StoreError, StoreUnavailable


def normalize_url(url: str) -> URL:
    """Parse a storage URL and pick our drivers: sqlite3, and psycopg 3 for PostgreSQL.

    ``postgres://`` (as Railway and Heroku print it) and ``postgresql://`` both map to
    ``postgresql+psycopg://``. An in-memory SQLite database is refused: the writer
    thread and the readers need to see the same database.
    """
    try:
        u = make_url(url)
    except exc.ArgumentError as e:
        raise StoreError(f"invalid storage URL {url!r}: {e}") from None
    backend = u.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend == "postgresql":
        return u.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if u.database in (None, "", ":memory:") or "mode=memory" in str(u):
            raise StoreError(
                f"storage URL {u.render_as_string(hide_password=True)!r} is an in-memory "
                "SQLite database; use a file, e.g. sqlite:///.botwatch/botwatch.db"
            )
        return u.set(drivername="sqlite")
    raise StoreError(
        f"unsupported storage URL scheme {u.drivername!r}: use sqlite:///path/to/file.db "
        "or postgresql://user@host/db"
    )


def json_dumps(obj: Any) -> str:
    """JSON for labels, event data and probe details that both databases accept.

    Unknown objects become strings rather than failing a whole batch; NUL characters
    (which PostgreSQL rejects in text and JSON) become U+FFFD; NaN and infinities,
    which are not JSON, become null.
    """
    try:
        # Fast path: most documents hold no NaN/inf, so skip the walk that replaces them.
        text = json.dumps(
            obj, default=str, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError:
        text = json.dumps(_finite(obj), default=str, separators=(",", ":"), ensure_ascii=False)
    return text.replace("\\u0000", "\ufffd") if "\\u0000" in text else text


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


@dataclass(frozen=True)
class Engines:
    """The writing and reading engines of one database."""

    write: Engine
    read: Engine
    dialect: str

    def dispose(self) -> None:
        """Close every pooled connection of both engines."""
        self.write.dispose()
        self.read.dispose()


def make_engines(url: URL, *, busy_timeout: float) -> Engines:
    """Create both engines; ``busy_timeout`` is how long a write waits for a lock."""
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        write = _sqlite_engine(url, busy_timeout=busy_timeout, begin="BEGIN IMMEDIATE")
        read = _sqlite_engine(url, busy_timeout=busy_timeout, begin="BEGIN")
        return Engines(write=write, read=read, dialect="sqlite")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        # libpq waits for TCP forever by default; a dead server must surface as an error.
        connect_args["connect_timeout"] = 10
    common: dict[str, Any] = {
        "pool_pre_ping": True,  # a restarted server leaves dead pooled connections
        "json_serializer": json_dumps,
        "connect_args": connect_args,
    }
    write = create_engine(url, pool_size=2, max_overflow=2, **common)
    lock_ms = max(1, round(busy_timeout * 1000))

    @event.listens_for(write, "connect")
    def _pg_write_connect(dbapi_conn: Any, _rec: ConnectionPoolEntry) -> None:
        # The PostgreSQL twin of SQLite's busy_timeout: fail and retry a batch rather
        # than hang behind a lock someone else holds.
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET lock_timeout = {lock_ms}")
        dbapi_conn.commit()

    read = create_engine(url, pool_size=5, max_overflow=5, **common)
    return Engines(write=write, read=read, dialect="postgresql")


def _sqlite_engine(url: URL, *, busy_timeout: float, begin: str) -> Engine:
    engine = create_engine(
        url,
        json_serializer=json_dumps,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
        pool_size=5,
        max_overflow=5,
    )
    busy_ms = max(0, round(busy_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _rec: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the sqlite3 module (its legacy mode begins lazily and
        # never for SELECT) so the "begin" hook below decides how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            # NORMAL under WAL: durable at checkpoints, a power cut may lose the last
            # commits but never corrupts; FULL would fsync every batch.
            cur.execute("PRAGMA synchronous=NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "55", "57", "58", "40")


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same statement later may succeed.

    Locked or busy databases, a full disk, a server that is down or restarting,
    serialization failures: yes. Bad data (constraint violations, values a column
    cannot hold, unserializable parameters): no - retrying would fail forever.
    """
    if isinstance(error, exc.TimeoutError):  # pool exhausted
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if isinstance(error, exc.IntegrityError | exc.DataError):
        return False
    if isinstance(error, exc.OperationalError | exc.InterfaceError | exc.InternalError):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES


def describe(error: BaseException) -> str:
    """One line saying what went wrong, without SQL, parameters or a traceback."""
    if isinstance(error, exc.DBAPIError) and error.orig is not None:
        text = str(error.orig).strip().splitlines()
        first = text[0] if text else ""
        return f"{type(error.orig).__name__}: {first}"
    return f"{type(error).__name__}: {error}"


@contextmanager
def store_errors(action: str) -> Iterator[None]:
    """Map database errors raised inside to ``StoreUnavailable``/``StoreError``.

    Errors that mean a bug in botwatch (a malformed statement) pass through unchanged.
    """
    try:
        yield
    except (exc.StatementError, exc.TimeoutError) as e:
        message = f"{action}: {describe(e)}"
        if is_transient(e):
            raise StoreUnavailable(message) from e
        raise StoreError(message) from e
