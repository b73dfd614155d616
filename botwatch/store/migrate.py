"""Bring a database to the newest schema with Alembic, programmatically (no alembic.ini)."""

from __future__ import annotations

__all__ = ["HEAD", "current_revision", "upgrade"]

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

from botwatch.errors import StoreError

_SCRIPTS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same for every botwatch process.
_PG_MIGRATION_LOCK = 0x62_6F_74_77_61_74_63_68  # "botwatch"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def _head() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


HEAD = _head()
"""The newest revision this version of botwatch knows."""


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at, or None for an empty database."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply every migration the database lacks, in one transaction.

    A database already at ``HEAD`` is left untouched. On PostgreSQL an advisory lock
    makes several botwatch processes starting at once migrate one after the other;
    on SQLite the write engine's ``BEGIN IMMEDIATE`` does the same.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        at = current_revision(conn)
        if at == HEAD:
            return
        known = {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}
        if at is not None and at not in known:
            raise StoreError(
                f"the database is at schema revision {at!r}, which this botwatch does not "
                f"know (newest here: {HEAD!r}); it was written by a newer botwatch - "
                "upgrade botwatch or point it at another database"
            )
        cfg = _config()
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, "head")
        except CommandError as e:
            raise StoreError(f"migrating the database failed: {e}") from e
