"""Live alert instances, so a restart of botwatch resumes them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the alerts table."""
    op.create_table(
        "alerts",
        sa.Column("grp", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
        sa.Column("data", _json, nullable=False),
        sa.PrimaryKeyConstraint("grp", "fingerprint", name="pk_alerts"),
    )


def downgrade() -> None:
    """Drop the alerts table."""
    op.drop_table("alerts")
