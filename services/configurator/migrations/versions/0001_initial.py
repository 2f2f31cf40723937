"""Desired states and messaging tables.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from runtime.migration_env import create_messaging_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "desired_states",
        sa.Column("operator_id", sa.String(64), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("deployment_id", sa.String(64), nullable=False),
        sa.Column("resources_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
