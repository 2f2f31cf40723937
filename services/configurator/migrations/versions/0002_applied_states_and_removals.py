"""Applied desired states, the configuration behind each, and removal records.

Before this revision plans were diffed against the newest desired state, so that one is taken as
applied for every operator.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("desired_states") as table:
        table.add_column(sa.Column("configuration_json", sa.Text, nullable=True))
        table.add_column(sa.Column("domain", sa.String(253), nullable=True))
        table.add_column(sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True))
        table.create_index("ix_desired_states_deployment_id", ["deployment_id"])
    op.execute(
        """
        UPDATE desired_states SET applied_at = created_at
        WHERE revision = (SELECT MAX(newer.revision) FROM desired_states AS newer
                          WHERE newer.operator_id = desired_states.operator_id)
        """
    )
    op.create_table(
        "removal_records",
        sa.Column("deployment_id", sa.String(64), primary_key=True),
        sa.Column("operator_id", sa.String(64), nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("removed_json", sa.Text, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("keep_until", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("removal_records")
    with op.batch_alter_table("desired_states") as table:
        table.drop_index("ix_desired_states_deployment_id")
        table.drop_column("applied_at")
        table.drop_column("domain")
        table.drop_column("configuration_json")
