"""Step actions and checkpoints, deployment attempts, resource specs and partial resources.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("deployments") as table:
        table.add_column(sa.Column("attempt", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("steps") as table:
        table.add_column(sa.Column("action", sa.String(16), nullable=False, server_default="create"))
        table.add_column(sa.Column("data", sa.String(8), nullable=True))
        table.add_column(sa.Column("checkpoint_json", sa.Text, nullable=False, server_default="{}"))
    with op.batch_alter_table("resource_states") as table:
        table.add_column(sa.Column("service", sa.String(32), nullable=False, server_default=""))
        table.add_column(sa.Column("spec_json", sa.Text, nullable=False, server_default="{}"))
        table.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="ready"))
        table.add_column(sa.Column("deployment_id", sa.String(64), nullable=True))
    op.create_index("ix_steps_finished_at", "steps", ["finished_at"])
