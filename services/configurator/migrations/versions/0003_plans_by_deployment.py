"""Desired states keyed by their deployment, ordered by a per-operator sequence: one configuration
revision may now be planned more than once (under a changed policy, or restored by a rollback);
and how each one's deployment ended. Unapplied states from before are taken as still running.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "desired_states_new",
        sa.Column("deployment_id", sa.String(64), primary_key=True),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("resources_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("configuration_json", sa.Text, nullable=True),
        sa.Column("domain", sa.String(253), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.UniqueConstraint("operator_id", "sequence", name="uq_desired_states_operator_sequence"),
    )
    op.execute(
        """
        INSERT INTO desired_states_new (deployment_id, operator_id, revision, sequence, resources_json, created_at,
                                        configuration_json, domain, applied_at, outcome)
        SELECT deployment_id, operator_id, revision, revision, resources_json, created_at, configuration_json, domain, applied_at,
               CASE WHEN applied_at IS NULL THEN NULL ELSE 'succeeded' END
        FROM desired_states
        """
    )
    op.drop_table("desired_states")
    op.rename_table("desired_states_new", "desired_states")
    op.create_index("ix_desired_states_operator_id", "desired_states", ["operator_id"])
