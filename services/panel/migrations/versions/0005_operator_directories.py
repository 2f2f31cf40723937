"""Operators' own directories: the connection identity keeps for each (its parameters, never the
bind password) and the report of every sync.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "directory_connections",
        sa.Column("operator_id", sa.String(64), primary_key=True),
        sa.Column("parameters_json", sa.Text, nullable=False),
        sa.Column("users", sa.Integer, nullable=False),
        sa.Column("groups", sa.Integer, nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "directory_syncs",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("operator_id", sa.String(64), nullable=False, index=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        *(sa.Column(name, sa.Integer, nullable=False) for name in (
            "users_total", "users_added", "users_updated", "users_removed", "memberships_added", "memberships_removed",
        )),
        sa.Column("duration_seconds", sa.Float, nullable=True),
        sa.Column("problem", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("directory_syncs")
    op.drop_table("directory_connections")
