"""Control requests: actions asked of the running monitor.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the control_requests table."""
    op.create_table(
        "control_requests",
        sa.Column("id", _big_id, autoincrement=True, nullable=False),
        sa.Column("bot", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("done_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_control_requests"),
    )
    op.create_index("ix_control_requests_status", "control_requests", ["status"])


def downgrade() -> None:
    """Drop the control_requests table."""
    op.drop_index("ix_control_requests_status", "control_requests")
    op.drop_table("control_requests")
