"""The sqlite probe against real database files: good, missing, garbage, damaged, locked."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from botwatch.config import LoadedConfig, parse_config
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.sqlite import SqliteProbe


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


def make_db(path: Path, rows: int = 100, *, wal: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        if wal:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("CREATE INDEX users_name ON users (name)")
        conn.executemany(
            "INSERT INTO users (name) VALUES (?)", [(f"user-{i}" * 10,) for i in range(rows)]
        )
        conn.commit()
    finally:
        conn.close()


def probe(path: Path, **kw: object) -> SqliteProbe:
    return SqliteProbe(bot="b", name="db", path=path, **kw)  # type: ignore[arg-type]


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


async def test_a_good_database_is_ok(tmp_path: Path, ctx: ProbeContext) -> None:
    db = tmp_path / "app.db"
    make_db(db)
    r = await probe(db).run(ctx)
    assert r.status is Status.OK, r.reason
    size = db.stat().st_size
    assert r.reason.startswith("app.db ok (")
    assert r.details["bytes"] == size
    v = values(r)
    assert v["sqlite_up"] == 1 and v["sqlite_file_bytes"] == size
    assert v["sqlite_check_seconds"] >= 0
    assert "sqlite_wal_bytes" not in v


async def test_a_missing_file_is_critical_and_not_created(
    tmp_path: Path, ctx: ProbeContext
) -> None:
    db = tmp_path / "gone.db"
    r = await probe(db).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == f"database file missing: {db}"
    assert not db.exists()


async def test_garbage_bytes_are_a_corrupt_database(tmp_path: Path, ctx: ProbeContext) -> None:
    db = tmp_path / "app.db"
    db.write_bytes(b"\x00\xffnot sqlite at all\x13\x37" * 500)
    r = await probe(db).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == "corrupt database app.db: file is not a database"
    assert values(r)["sqlite_up"] == 0


async def test_damaged_pages_fail_the_quick_check(tmp_path: Path, ctx: ProbeContext) -> None:
    db = tmp_path / "app.db"
    make_db(db, rows=2000)
    page_size = 4096
    with db.open("r+b") as f:
        # Leave page 1 (header and schema) alone; scribble over the b-tree pages.
        f.seek(page_size * 2)
        f.write(b"\xa5" * page_size * 3)
    r = await probe(db).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason.startswith(("quick_check failed on app.db: ", "corrupt database app.db: "))


async def test_a_directory_is_not_a_database(tmp_path: Path, ctx: ProbeContext) -> None:
    r = await probe(tmp_path).run(ctx)
    assert r.status is Status.CRIT and r.reason == f"not a file: {tmp_path}"


@pytest.fixture
def locked_db(tmp_path: Path) -> Iterator[Path]:
    db = tmp_path / "busy.db"
    make_db(db)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        yield db
    finally:
        writer.execute("ROLLBACK")
        writer.close()


async def test_a_locked_database_is_a_warning(locked_db: Path, ctx: ProbeContext) -> None:
    r = await probe(locked_db, timeout=0.4).run(ctx)
    assert r.status is Status.WARN
    assert r.reason == "cannot check busy.db: database is locked"


async def test_wal_size_is_reported(tmp_path: Path, ctx: ProbeContext) -> None:
    db = tmp_path / "wal.db"
    make_db(db, wal=True)
    keeper = sqlite3.connect(db)  # an open connection keeps the -wal file around
    try:
        keeper.execute("INSERT INTO users (name) VALUES ('one more')")
        keeper.commit()
        r = await probe(db).run(ctx)
    finally:
        keeper.close()
    assert r.status is Status.OK, r.reason
    assert values(r)["sqlite_wal_bytes"] > 0


async def test_from_bot_resolves_relative_paths(tmp_path: Path, ctx: ProbeContext) -> None:
    make_db(tmp_path / "data" / "bot.db")
    absolute = tmp_path / "elsewhere" / "abs.db"
    make_db(absolute)
    text = f"""
bots:
  alpha:
    depends:
      db: sqlite:///data/bot.db
      archive: "sqlite:///{absolute}"
      missing: sqlite:///data/none.db?mode=ro
      cache: redis://127.0.0.1:6379/0
"""
    loaded = LoadedConfig(parse_config(text), tmp_path / "botwatch.yml", tmp_path)
    probes = [p for p in build_probes(loaded) if p.kind == "sqlite"]
    assert [(p.name, p.target) for p in probes] == [
        ("db", str(tmp_path / "data" / "bot.db")),
        ("archive", str(absolute)),
        ("missing", str(tmp_path / "data" / "none.db")),
    ]
    results = [await p.run(ctx) for p in probes]
    assert [r.status for r in results] == [Status.OK, Status.OK, Status.CRIT]
