"""The store's tables, as SQLAlchemy Core metadata.

The Alembic revisions in ``migrations/versions`` create exactly these; a test checks
that the migrated schema and this metadata agree, so queries can trust them.

Time is ``float`` epoch seconds everywhere (``Double``), matching ``Sample.ts``; rollup
buckets are whole seconds (``BigInteger``) aligned to their width, so a bucket is an
exact key.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MetaKey",
    "alerts",
    "control_requests",
    "events",
    "incident_alerts",
    "incident_events",
    "incidents",
    "log_patterns",
    "log_positions",
    "meta",
    "metadata",
    "notifications",
    "notify_log",
    "probe_results",
    "samples",
    "samples_1h",
    "samples_1m",
    "series",
    "silences",
]

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# Stable constraint names make later migrations (and SQLite batch mode) predictable.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class _Json(TypeDecorator[Any]):
    """JSON; JSONB on PostgreSQL so later work can index and query into labels and
    details. Decided when a connection's dialect is known, so a SQLite store never
    imports SQLAlchemy's PostgreSQL dialect (a couple of MB the monitor does not need)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


Json = _Json()
# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias), not BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    # Canonical sorted JSON of the labels (botwatch.series.labels_key): the identity.
    Column("labels_key", Text, nullable=False),
    Column("labels", Json, nullable=False),
    UniqueConstraint("name", "labels_key"),
)

# No foreign key to series on the sample tables: ids only ever come from the store's own
# series lookup, and a per-row FK check would tax the hottest insert path.
# One value per (series, ts): a re-sent sample (an agent retrying a batch) overwrites
# itself instead of doubling, and the primary key doubles as the (series_id, ts) index.
samples = Table(
    "samples",
    metadata,
    Column("series_id", Integer, primary_key=True),
    Column("ts", Double, primary_key=True),
    Column("value", Double, nullable=False),
    sqlite_with_rowid=False,
)


def _rollup_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("series_id", Integer, primary_key=True),
        # Start of the bucket, epoch seconds, a multiple of the bucket width.
        Column("bucket", BigInteger, primary_key=True),
        Column("count", BigInteger, nullable=False),
        Column("sum", Double, nullable=False),
        Column("min", Double, nullable=False),
        Column("max", Double, nullable=False),
        # The latest value in the bucket: what a counter or gauge read at its end.
        Column("last", Double, nullable=False),
        sqlite_with_rowid=False,
    )


samples_1m = _rollup_table("samples_1m")
samples_1h = _rollup_table("samples_1h")

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", Double, nullable=False),
    Column("kind", String(100), nullable=False),
    Column("bot", String(200), nullable=True),
    Column("message", Text, nullable=False),
    Column("data", Json, nullable=False),
    Index(None, "ts"),
    Index(None, "kind", "ts"),
)

probe_results = Table(
    "probe_results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", Double, nullable=False),
    Column("bot", String(200), nullable=False),
    Column("check", String(200), nullable=False),
    Column("kind", String(100), nullable=False),
    # 0 ok, 1 warn, 2 crit, 3 unknown (the Nagios convention operators already know).
    Column("status", SmallInteger, nullable=False),
    Column("latency", Double, nullable=True),
    Column("reason", Text, nullable=False),
    Column("details", Json, nullable=False),
    Index(None, "ts"),
    Index(None, "bot", "check", "ts"),
)

# The live alert instances (pending and firing), so a restart resumes them: ``data`` is
# the instance as JSON (``botwatch.alerts.Alert.to_dict``); the key columns are what
# queries filter on. Resolved instances are deleted (their history is in ``events``).
alerts = Table(
    "alerts",
    metadata,
    Column("grp", String(200), primary_key=True),
    Column("fingerprint", String(32), primary_key=True),
    Column("rule", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("updated", Double, nullable=False),
    Column("data", Json, nullable=False),
)

# Silences: notifications for alerts matching every matcher are held back between
# starts_at and ends_at (expiring one sets ends_at to now; rows are kept as history).
silences = Table(
    "silences",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("matchers", Json, nullable=False),
    Column("starts_at", Double, nullable=False),
    Column("ends_at", Double, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Index(None, "ends_at"),
)

# The notification outbox: one row per notification per receiver, written in the same
# transaction as the decision to notify, delivered (and retried) from here, so a crash
# loses nothing and a receiver that succeeded is never sent the same row again.
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("receiver", String(200), nullable=False),
    Column("idempotency_key", String(100), nullable=False),
    Column("status", String(20), nullable=False),  # pending, sent, failed
    Column("payload", Json, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Double, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("sent_at", Double, nullable=True),
    UniqueConstraint("receiver", "idempotency_key"),
    Index(None, "status", "next_attempt_at"),
)

# What each receiver was last told about each notification group (Alertmanager's
# notification log): the dispatcher decides from it whether there is news to send.
notify_log = Table(
    "notify_log",
    metadata,
    Column("receiver", String(200), primary_key=True),
    Column("group_key", String(500), primary_key=True),
    Column("firing", Json, nullable=False),  # sorted fingerprints notified as firing
    Column("resolved", Json, nullable=False),
    Column("sent_at", Double, nullable=False),
)

# Actions asked of the running monitor (``botwatch restart BOT`` for a bot it manages):
# the CLI inserts a row, the monitor carries it out and writes the outcome back.
control_requests = Table(
    "control_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("bot", String(200), nullable=False),
    Column("action", String(20), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("why", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("status", String(20), nullable=False),  # pending, done, failed
    Column("result", Text, nullable=True),
    Column("done_at", Double, nullable=True),
    Index(None, "status"),
)

# Incidents: a bot's critical trouble as one thing to acknowledge and resolve. Opened
# by the first qualifying alert that fires for a bot, joined by the next ones, resolved
# when all of them are. ``version`` grows on every change, so the monitor's escalation
# step and a ``botwatch incidents ack`` from the CLI never overwrite each other.
incidents = Table(
    "incidents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("bot", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("priority", String(4), nullable=False),  # P1 (worst) .. P4
    Column("status", String(20), nullable=False),  # open, acknowledged, resolved
    Column("started_at", Double, nullable=False),  # the first bad sample
    Column("opened_at", Double, nullable=False),  # the first alert fired: detected
    Column("acked_at", Double, nullable=True),
    Column("acked_by", String(200), nullable=True),
    Column("resolved_at", Double, nullable=True),
    Column("resolved_by", String(200), nullable=True),
    Column("escalation_level", Integer, nullable=False),  # escalation steps taken
    Column("escalated_to", Json, nullable=False),  # receivers told by escalation
    Column("ack_notified", Boolean, nullable=False),  # receivers told of the ack
    Column("resolve_notified", Boolean, nullable=False),  # escalation receivers told
    Column("version", Integer, nullable=False),
    Index(None, "bot", "status"),
    Index(None, "status"),
    Index(None, "opened_at"),
)

# The alerts of an incident: one row per alert instance (fingerprint), its latest
# firing spell (fired_at, resolved_at).
incident_alerts = Table(
    "incident_alerts",
    metadata,
    Column("incident_id", BigId, primary_key=True),
    Column("fingerprint", String(32), primary_key=True),
    Column("rule", String(200), nullable=False),
    Column("labels", Json, nullable=False),
    Column("annotations", Json, nullable=False),
    Column("value", Double, nullable=True),
    Column("active_since", Double, nullable=False),
    Column("fired_at", Double, nullable=False),
    Column("resolved_at", Double, nullable=True),
    Index(None, "fingerprint", "fired_at"),
)

# An incident's timeline: started, pending, fired, notified, acknowledged, action,
# escalated, resolved (and comments).
incident_events = Table(
    "incident_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_id", BigId, nullable=False),
    Column("at", Double, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("data", Json, nullable=False),
    Index(None, "incident_id", "at"),
)

# How far each followed log file has been read (its inode and the offset after the
# last whole line), so a restart of the monitor neither re-counts nor skips lines.
log_positions = Table(
    "log_positions",
    metadata,
    Column("source", String(1000), primary_key=True),
    Column("inode", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("updated_at", Double, nullable=False),
    # A command source's exact place: journald's cursor, docker's last line's time.
    Column("cursor", String(500)),
)

# Every bot's error patterns as the monitor learned them: "new since yesterday" is a
# first_seen, and the monitor seeds its miner from these texts after a restart so a
# pattern keeps its row.
log_patterns = Table(
    "log_patterns",
    metadata,
    Column("bot", String(63), primary_key=True),
    Column("key", String(40), primary_key=True),
    Column("text", Text, nullable=False),
    Column("exc_type", String(200)),
    Column("category", String(40), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("first_seen", Double, nullable=False),
    Column("last_seen", Double, nullable=False),
    Column("example", Text, nullable=False),
    Index("ix_log_patterns_first_seen", "first_seen"),
)

# Small key/number table for the rollup and retention watermarks.
meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Double, nullable=True),
)


class MetaKey:
    """Keys of the ``meta`` rows; every one is created (NULL) by the first migration."""

    WM_1M = "rollup.1m.watermark"  # every raw sample before it is folded into 1m
    DIRTY_1M = "rollup.1m.dirty"  # earliest raw ts written since the last 1m fold
    WM_1H = "rollup.1h.watermark"
    DIRTY_1H = "rollup.1h.dirty"
    FLOOR_RAW = "retention.raw.floor"  # raw samples before it have been deleted
    FLOOR_1M = "retention.1m.floor"

    ALL = (WM_1M, DIRTY_1M, WM_1H, DIRTY_1H, FLOOR_RAW, FLOOR_1M)
