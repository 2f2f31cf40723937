"""The body of every service's alembic `env.py`: migrate on the connection the service hands over."""

from alembic import context


def run(target_metadata) -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def create_messaging_tables() -> None:
    """For a service's first migration: its outbox and processed-message tables."""
    from sqlalchemy import MetaData

    from .tables import messaging_tables

    for table in messaging_tables(MetaData()):
        table.create(context.get_bind())


def create_secrets_table() -> None:
    from sqlalchemy import MetaData

    from .secrets import secrets_table

    secrets_table(MetaData()).create(context.get_bind())
