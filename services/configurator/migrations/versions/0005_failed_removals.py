"""A removal whose deployment failed is marked so, and no longer counts as under way.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("removal_records") as table:
        table.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
