"""What each deployment's plan holds (VMs with their cores, memory and disk, buckets, DNS records),
and the newest event heard of each deployment (the bus-health page finds stuck ones by it).

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("deployment_views") as table:
        table.add_column(sa.Column("holds_json", sa.Text, nullable=False, server_default="{}"))
        table.add_column(sa.Column("last_event_type", sa.String(64), nullable=True))
        table.add_column(sa.Column("last_event_step", sa.String(200), nullable=True))
        table.add_column(sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True))
    # Deployments from before: their last change of view is as close to their last event as is known.
    op.execute("UPDATE deployment_views SET last_event_at = updated_at")


def downgrade() -> None:
    with op.batch_alter_table("deployment_views") as table:
        for name in ("last_event_at", "last_event_step", "last_event_type", "holds_json"):
            table.drop_column(name)
