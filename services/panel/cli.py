"""Panel administration from the command line (`fedi operator create`)."""

from runtime.db import Database
from runtime.service import migrations_of

from . import operators
from .settings import Settings


async def create_operator(name: str, settings: Settings | None = None) -> str:
    settings = settings or Settings()
    database = Database(settings.sqlalchemy_url())
    try:
        await database.migrate(migrations_of(__file__))
        async with database.session() as session:
            return await operators.create_operator(session, name)
    finally:
        await database.close()
