"""Alembic environment of the botwatch store.

At run time ``botwatch.store.migrate.upgrade`` hands over an open connection in
``config.attributes["connection"]``. From a shell (to write a new revision) run::

    BOTWATCH_STORAGE=sqlite:///dev.db alembic -c botwatch/store/migrations/alembic.ini \\
        revision --autogenerate -m "what changes"
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from botwatch.store.engine import make_engines, normalize_url
from botwatch.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = os.environ.get("BOTWATCH_STORAGE") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set BOTWATCH_STORAGE to the database URL")
    engines = make_engines(normalize_url(url), busy_timeout=5.0)
    try:
        with engines.write.begin() as conn:
            _run(conn)
    finally:
        engines.dispose()


_main()
