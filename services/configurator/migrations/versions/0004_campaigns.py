"""Fleet-wide update campaigns, each operator's part in them, and operators' maintenance windows.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(254), nullable=False),
        sa.Column("policy_changes_json", sa.Text, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("earliest_start", WHEN, nullable=False),
        sa.Column("deadline", WHEN, nullable=False),
        sa.Column("soak_minutes", sa.Integer, nullable=False),
        sa.Column("failure_threshold", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("state_reason", sa.Text, nullable=False),
        sa.Column("resumed_at", WHEN, nullable=True),
        sa.Column("wave_sizes_json", sa.Text, nullable=False),
        sa.Column("wave_opened_json", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "campaign_parts",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("operator_id", sa.String(64), primary_key=True, index=True),
        sa.Column("wave", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("changes_json", sa.Text, nullable=False),
        sa.Column("downtime_minutes", sa.Integer, nullable=False),
        sa.Column("choice", sa.String(16), nullable=True),
        sa.Column("chosen_at", WHEN, nullable=True),
        sa.Column("defer_until", WHEN, nullable=True),
        sa.Column("planned_start", WHEN, nullable=True),
        sa.Column("reminders_json", sa.Text, nullable=False),
        sa.Column("deployment_id", sa.String(64), nullable=True, index=True),
        sa.Column("rollback_deployment_id", sa.String(64), nullable=True, index=True),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("operator_id", sa.String(64), primary_key=True),
        sa.Column("window_json", sa.Text, nullable=False),
        sa.Column("chosen_at", WHEN, nullable=False),
    )
