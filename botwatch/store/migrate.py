"""Bring a database to the newest schema with Alembic, programmatically (no alembic.ini).

Alembic is imported only when a database actually needs migrating: with Mako and
Pygments it weighs about 10 MB of memory, and a monitor opening an up-to-date database
(every start but the first) has no use for it. ``HEAD`` is therefore written here, and
a test checks it against Alembic's own view of the scripts. A long-running process can
go further with ``upgrade_in_child()``: the migration runs in a short-lived child
process, so Alembic never enters the monitor's memory at all.
"""

from __future__ import annotations

__all__ = ["HEAD", "current_revision", "script_head", "upgrade", "upgrade_in_child"]

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from botwatch.errors import StoreError, StoreUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

_SCRIPTS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same for every botwatch process.
_PG_MIGRATION_LOCK = 0x62_6F_74_77_61_74_63_68  # "botwatch"


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


HEAD = "0008"
"""The newest revision this version of botwatch knows (the last script in migrations/)."""


def script_head() -> str:
    """The head revision according to Alembic's scripts (``HEAD`` must equal it)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at, or None for an empty database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


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
        from alembic import command
        from alembic.script import ScriptDirectory
        from alembic.util.exc import CommandError

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


_URL_VAR = "BOTWATCH_MIGRATE_URL"  # the URL goes by environment: argv is public in `ps`
_EXIT_UNAVAILABLE = 3
_EXIT_REFUSED = 2


def upgrade_in_child(engine: Engine, url: str, *, timeout: float = 600.0) -> None:
    """``upgrade()``, with Alembic in a child process if a migration is due at all.

    ``engine`` (this process's) only reads the revision; ``url`` is the same database
    for the child. Raises what ``upgrade()`` would: ``StoreError`` for a refused
    migration, ``StoreUnavailable`` when the database cannot be reached.
    """
    with engine.connect() as conn:
        if current_revision(conn) == HEAD:
            return
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "botwatch.store.migrate"],
            env={**os.environ, _URL_VAR: url},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise StoreUnavailable(f"migrating the database took longer than {timeout:g}s") from None
    if proc.returncode == 0:
        return
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    why = lines[-1] if lines else f"exit code {proc.returncode}"
    if proc.returncode == _EXIT_UNAVAILABLE:
        raise StoreUnavailable(why)
    raise StoreError(why if proc.returncode == _EXIT_REFUSED else f"migrating failed: {why}")


def _child_main() -> int:
    from botwatch.store.engine import make_engines, normalize_url, store_errors

    parsed = normalize_url(os.environ[_URL_VAR])
    engines = make_engines(parsed, busy_timeout=30.0)
    try:
        with store_errors(f"opening {parsed.render_as_string(hide_password=True)}"):
            upgrade(engines.write)
    except StoreUnavailable as e:
        print(e, file=sys.stderr)
        return _EXIT_UNAVAILABLE
    except StoreError as e:
        print(e, file=sys.stderr)
        return _EXIT_REFUSED
    finally:
        engines.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
