"""The notification outbox and the notification log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the notifications and notify_log tables."""
    op.create_table(
        "notifications",
        sa.Column("id", _big_id, autoincrement=True, nullable=False),
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("payload", _json, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("sent_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint(
            "receiver", "idempotency_key", name="uq_notifications_receiver_idempotency_key"
        ),
    )
    op.create_index(
        "ix_notifications_status_next_attempt_at", "notifications", ["status", "next_attempt_at"]
    )
    op.create_table(
        "notify_log",
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("group_key", sa.String(500), nullable=False),
        sa.Column("firing", _json, nullable=False),
        sa.Column("resolved", _json, nullable=False),
        sa.Column("sent_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("receiver", "group_key", name="pk_notify_log"),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("notify_log")
    op.drop_index("ix_notifications_status_next_attempt_at", "notifications")
    op.drop_table("notifications")
