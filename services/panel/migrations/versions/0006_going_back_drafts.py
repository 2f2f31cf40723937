"""A draft can go back from a failed deployment to the last configuration that worked: it names that
deployment, so that deploying it is recorded as going back (and refused once something newer came).

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("drafts", sa.Column("going_back_from", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drafts") as table:
        table.drop_column("going_back_from")
