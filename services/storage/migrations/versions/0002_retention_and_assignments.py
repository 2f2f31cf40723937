"""Bucket state (active / kept), object quotas, pre-configured buckets and their assignments.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("buckets") as batch:
        batch.alter_column("bucket_id", existing_type=sa.String(64), nullable=True)
        batch.add_column(sa.Column("quota_objects", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="active"))
        batch.add_column(sa.Column("preconfigured", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "assigned_buckets",
        sa.Column("operator_id", sa.String(64), primary_key=True),
        sa.Column("bucket", sa.String(100), primary_key=True),
        sa.Column("endpoint", sa.String(300), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("access_key_id", sa.String(128), nullable=False),
        sa.Column("secret_ref", sa.String(120), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("endpoint", "bucket", name="uq_assigned_buckets_endpoint_bucket"),
    )


def downgrade() -> None:
    op.drop_table("assigned_buckets")
    with op.batch_alter_table("buckets") as batch:
        for column in ("updated_at", "preconfigured", "state", "quota_objects"):
            batch.drop_column(column)
