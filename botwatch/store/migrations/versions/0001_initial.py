"""The first schema: series, raw samples, 1m/1h rollups, events, probe results, meta.

Revision ID: 0001
Revises:
Create Date: 2024-11-22

Written out in full rather than built from ``botwatch.store.tables`` so that later
changes to the tables never rewrite history; ``tests/store`` checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_META_KEYS = (
    "rollup.1m.watermark",
    "rollup.1m.dirty",
    "rollup.1h.watermark",
    "rollup.1h.dirty",
    "retention.raw.floor",
    "retention.1m.floor",
)


def _rollup(name: str) -> None:
    op.create_table(
        name,
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        sa.Column("last", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "bucket", name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    """Create every table and the meta rows."""
    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("labels_key", sa.Text(), nullable=False),
        sa.Column("labels", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_series"),
        sa.UniqueConstraint("name", "labels_key", name="uq_series_name_labels_key"),
    )
    op.create_table(
        "samples",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "ts", name="pk_samples"),
        sqlite_with_rowid=False,
    )
    _rollup("samples_1m")
    _rollup("samples_1h")
    op.create_table(
        "events",
        sa.Column("id", _big_id, autoincrement=True, nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("bot", sa.String(200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_ts", "events", ["ts"])
    op.create_index("ix_events_kind_ts", "events", ["kind", "ts"])
    op.create_table(
        "probe_results",
        sa.Column("id", _big_id, autoincrement=True, nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("bot", sa.String(200), nullable=False),
        sa.Column("check", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("latency", sa.Double(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_probe_results"),
    )
    op.create_index("ix_probe_results_ts", "probe_results", ["ts"])
    op.create_index("ix_probe_results_bot_check_ts", "probe_results", ["bot", "check", "ts"])
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    op.bulk_insert(meta, [{"key": k, "value": None} for k in _META_KEYS])


def downgrade() -> None:
    """Drop everything the upgrade created."""
    for name in ("meta", "probe_results", "events", "samples_1h", "samples_1m", "samples"):
        op.drop_table(name)
    op.drop_table("series")
