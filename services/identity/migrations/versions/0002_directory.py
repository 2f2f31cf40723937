"""Account DN, SMTP relay accounts, SSH keys, links to operators' directories, one-time reveals, and the
embedded directory's entries.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("dn", sa.String(500), nullable=False, server_default=""))
    op.create_table(
        "relay_accounts",
        sa.Column("resource_id", sa.String(200), primary_key=True),
        sa.Column("operator_id", sa.String(64), nullable=False, index=True),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("password_ref", sa.String(120), nullable=False),
        sa.Column("dn", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ssh_keys",
        sa.Column("resource_id", sa.String(200), primary_key=True),
        sa.Column("operator_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("private_key_ref", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "directory_links",
        sa.Column("operator_id", sa.String(64), primary_key=True),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("password_ref", sa.String(120), nullable=False),
        sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending_trigger", sa.String(16), nullable=False),
        sa.Column("pending_correlation_id", sa.String(200), nullable=False),
        sa.Column("pending_causation_id", sa.String(64), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_ok", sa.Boolean, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
    )
    op.create_table(
        "secret_reveals",
        sa.Column("ref", sa.String(120), primary_key=True),
        sa.Column("requester", sa.String(64), primary_key=True),
        sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "directory_entries",
        sa.Column("dn_key", sa.String(500), primary_key=True),
        sa.Column("dn", sa.String(500), nullable=False),
        sa.Column("parent_key", sa.String(500), nullable=False, index=True),
        sa.Column("attributes", sa.JSON, nullable=False),
    )
