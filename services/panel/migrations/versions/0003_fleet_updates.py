"""Fleet-wide updates: campaigns, notices to operators (with their e-mail outbox state), each
operator's part in a campaign, the choices operators made; who started each deployment.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def _moment(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("deployment_views") as table:
        table.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="operator"))
        table.add_column(sa.Column("campaign_id", sa.String(64), nullable=True))
    op.create_table(
        "campaign_views",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(254), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text, nullable=False),
        _moment("state_at"),
        sa.Column("problems_json", sa.Text, nullable=False),
        sa.Column("open_waves", sa.Integer, nullable=False),
        _moment("created_at", nullable=False),
    )
    op.create_table(
        "campaign_notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("operator_id", sa.String(64), nullable=False, index=True),
        sa.Column("campaign_id", sa.String(64), nullable=False, index=True),
        sa.Column("notice", sa.String(16), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("changes_json", sa.Text, nullable=False),
        sa.Column("downtime_minutes", sa.Integer, nullable=False),
        _moment("deadline", nullable=False),
        _moment("defer_limit", nullable=False),
        sa.Column("window_json", sa.Text, nullable=False),
        _moment("planned_start"),
        _moment("occurred_at", nullable=False),
        _moment("received_at", nullable=False),
        _moment("read_at"),
        sa.Column("email_state", sa.String(8), nullable=False, index=True),
        _moment("emailed_at"),
        sa.Column("email_note", sa.Text, nullable=False),
        sa.Column("email_attempts", sa.Integer, nullable=False),
        _moment("email_next_at"),
    )
    op.create_table(
        "campaign_part_views",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("operator_id", sa.String(64), primary_key=True, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        _moment("state_at"),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("wave", sa.Integer, nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("deployment_id", sa.String(64), nullable=True),
        sa.Column("notice_id", sa.Integer, nullable=True),
        _moment("notice_at"),
    )
    op.create_table(
        "maintenance_choices",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("operator_id", sa.String(64), nullable=False, index=True),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("window_json", sa.Text, nullable=True),
        _moment("defer_until"),
        sa.Column("chosen_by", sa.String(254), nullable=False),
        _moment("chosen_at", nullable=False),
        sa.Column("refused_reason", sa.Text, nullable=True),
        _moment("refused_at"),
    )
