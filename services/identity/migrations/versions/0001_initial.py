"""Accounts, secrets and messaging tables.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from runtime.migration_env import create_messaging_tables, create_secrets_table

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_messaging_tables()
    create_secrets_table()
    op.create_table(
        "accounts",
        sa.Column("resource_id", sa.String(200), primary_key=True),
        sa.Column("operator_id", sa.String(64), nullable=False, index=True),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("password_ref", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
