"""Alembic migrations: applied on open, idempotent, and in step with the table metadata."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from botwatch.errors import StoreError
from botwatch.series import Sample
from botwatch.store import Store
from botwatch.store.migrate import HEAD
from botwatch.store.tables import metadata

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # the `clock` fixture's start, an hour boundary


def _schema(store: Store) -> dict[str, list[str]]:
    with store.engine.connect() as conn:
        insp = inspect(conn)
        return {
            t: sorted(
                [c["name"] for c in insp.get_columns(t)]
                + [str(i["name"]) for i in insp.get_indexes(t)]
            )
            for t in sorted(insp.get_table_names())
        }


def test_open_migrates_to_head(store_url: str) -> None:
    with Store.open(store_url) as store:
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD
        assert set(_schema(store)) == {
            "alembic_version",
            "alerts",
            "control_requests",
            "events",
            "incident_alerts",
            "incident_events",
            "incidents",
            "log_patterns",
            "log_positions",
            "meta",
            "notifications",
            "notify_log",
            "probe_results",
            "samples",
            "samples_1h",
            "samples_1m",
            "series",
            "silences",
        }


def test_migrated_schema_matches_the_table_metadata(store_url: str) -> None:
    with Store.open(store_url) as store, store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []


async def test_reopening_changes_nothing_and_keeps_data(store_url: str) -> None:
    store = Store.open(store_url)
    await store.start()
    store.write(samples=[Sample("x", {"bot": "a"}, T0, 1.0)])
    await store.close()
    with Store.open(store_url) as first:
        before = _schema(first)
        with first.engine.connect() as conn:
            meta_before = conn.execute(text("SELECT key, value FROM meta ORDER BY key")).all()
    with Store.open(store_url) as second:
        assert _schema(second) == before
        with second.engine.connect() as conn:
            assert conn.execute(text("SELECT key, value FROM meta ORDER BY key")).all() == (
                meta_before
            )
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert [p.value for p in second.latest("x")] == [1.0]


def test_a_newer_schema_is_refused(store_url: str) -> None:
    with Store.open(store_url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    with pytest.raises(StoreError, match="newer botwatch"):
        Store.open(store_url)


def test_head_constant_matches_the_migration_scripts() -> None:
    # migrate.HEAD lets an up-to-date database open without importing Alembic; it must
    # name the newest script, or a new migration would never run.
    from botwatch.store.migrate import script_head

    assert script_head() == HEAD


def test_migrating_in_a_child_keeps_alembic_out_of_the_process(store_url: str) -> None:
    # What `botwatch run` does: its first start migrates without Alembic's ~10 MB.
    code = (
        "import sys\n"
        "from botwatch.store import Store\n"
        "from botwatch.store.migrate import HEAD, current_revision\n"
        f"with Store.open({store_url!r}, migrate_in_child=True) as s, s.engine.connect() as c:\n"
        "    assert current_revision(c) == HEAD, current_revision(c)\n"
        "assert 'alembic' not in sys.modules, 'alembic was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with Store.open(store_url) as store, store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []


def test_a_newer_schema_is_refused_by_the_child_too(store_url: str) -> None:
    with Store.open(store_url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    with pytest.raises(StoreError, match="'from_the_future', which this botwatch does not know"):
        Store.open(store_url, migrate_in_child=True)
