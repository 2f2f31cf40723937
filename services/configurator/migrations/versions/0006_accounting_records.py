"""The accounting record kept with a removal: what the operator held, from when.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("removal_records") as table:
        table.add_column(sa.Column("accounting_json", sa.Text, nullable=False, server_default="[]"))
