"""Incidents, their alerts and their timelines.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create incidents, incident_alerts and incident_events."""
    op.create_table(
        "incidents",
        sa.Column("id", _big_id, autoincrement=True, nullable=False),
        sa.Column("bot", sa.String(200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("acked_at", sa.Double(), nullable=True),
        sa.Column("acked_by", sa.String(200), nullable=True),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalated_to", _json, nullable=False),
        sa.Column("ack_notified", sa.Boolean(), nullable=False),
        sa.Column("resolve_notified", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_bot_status", "incidents", ["bot", "status"])
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", _big_id, nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("labels", _json, nullable=False),
        sa.Column("annotations", _json, nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("active_since", sa.Double(), nullable=False),
        sa.Column("fired_at", sa.Double(), nullable=False),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", "fingerprint", name="pk_incident_alerts"),
    )
    op.create_index(
        "ix_incident_alerts_fingerprint_fired_at", "incident_alerts", ["fingerprint", "fired_at"]
    )
    op.create_table(
        "incident_events",
        sa.Column("id", _big_id, autoincrement=True, nullable=False),
        sa.Column("incident_id", _big_id, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incident_events"),
    )
    op.create_index("ix_incident_events_incident_id_at", "incident_events", ["incident_id", "at"])


def downgrade() -> None:
    """Drop the incident tables."""
    op.drop_index("ix_incident_events_incident_id_at", "incident_events")
    op.drop_table("incident_events")
    op.drop_index("ix_incident_alerts_fingerprint_fired_at", "incident_alerts")
    op.drop_table("incident_alerts")
    op.drop_index("ix_incidents_opened_at", "incidents")
    op.drop_index("ix_incidents_status", "incidents")
    op.drop_index("ix_incidents_bot_status", "incidents")
    op.drop_table("incidents")
