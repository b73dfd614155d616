"""Every bot's error patterns, kept so "new since yesterday" is known; a command
source's exact place (journald's cursor, docker's last time) beside file positions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create log_patterns; add log_positions.cursor."""
    op.create_table(
        "log_patterns",
        sa.Column("bot", sa.String(63), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("exc_type", sa.String(200), nullable=True),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.Column("example", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("bot", "key", name="pk_log_patterns"),
    )
    op.create_index("ix_log_patterns_first_seen", "log_patterns", ["first_seen"])
    with op.batch_alter_table("log_positions") as batch:
        batch.add_column(sa.Column("cursor", sa.String(500), nullable=True))


def downgrade() -> None:
    """Drop log_patterns and the cursor column."""
    with op.batch_alter_table("log_positions") as batch:
        batch.drop_column("cursor")
    op.drop_index("ix_log_patterns_first_seen", table_name="log_patterns")
    op.drop_table("log_patterns")
