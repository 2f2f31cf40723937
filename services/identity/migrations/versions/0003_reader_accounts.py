"""The operators' directory reader accounts (cn=reader,ou=<operator>): the columns of relay_accounts.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    relay = sa.Table("relay_accounts", sa.MetaData(), autoload_with=op.get_bind())
    columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in relay.columns]
    op.create_table("reader_accounts", *columns)
    op.create_index("ix_reader_accounts_operator_id", "reader_accounts", ["operator_id"])
