"""A panel database from before accounts and pages (migration 0001 only) is brought up to date on
start: its operators, API tokens and revisions keep working, and an operator can then ask to be
removed (the new operators.removal_requested_at column). Deployments from before the panel kept
their last events and counted what plans hold (0004) are still watched for being stuck."""

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, text

from runtime.db import Database
from runtime.uow import UnitsOfWork
from services.panel.adapters.fakes import FakePlanner, FakeTrail, FakeVault
from services.panel.adapters.store import ApiToken, Base, Operator, Revision
from services.panel.app import create_app
from services.panel.operators import hash_token
from services.panel.settings import Settings
from services.panel.web.context import Context
from tests.unit.test_panel_harness import MIGRATIONS, Browser, PanelUnderTest, configuration_form, text_of

pytestmark = pytest.mark.integration

TOKEN = "fedi_token-made-before-the-upgrade"
CONFIGURATION = {
    "domain": "acme.example",
    "initialUser": {"username": "alice", "displayName": "Alice", "email": "alice@acme.example"},
    "mastodon": {"enable": True},
}


def upgrade_to(revision: str):
    def upgrade(connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


@pytest.fixture
async def old_database(tmp_path):
    """A database as the panel left it before migration 0002, with one operator who deployed once."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'panel.db'}")
    moment = datetime.now(UTC)
    async with database.engine.begin() as connection:
        await connection.run_sync(upgrade_to("0001"))
        await connection.execute(insert(Operator.__table__).values(id="acme", created_at=moment))
        await connection.execute(insert(ApiToken.__table__).values(token_hash=hash_token(TOKEN), operator_id="acme", created_at=moment))
        await connection.execute(
            insert(Revision.__table__).values(
                operator_id="acme", number=1, configuration_json=json.dumps(CONFIGURATION), deployment_id="d1", created_at=moment
            )
        )
    yield database
    await database.close()


async def test_an_old_database_is_migrated_and_its_operator_keeps_working(old_database):
    await old_database.migrate(MIGRATIONS)
    context = Context(
        units=UnitsOfWork(old_database, Base.metadata), settings=Settings(), planner=FakePlanner(), vault=FakeVault(), trail=FakeTrail()
    )
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(context)), base_url="http://panel.test", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    async with api:
        current = await api.get("/api/v1/configuration")
        submitted = await api.post("/api/v1/configuration", json={**CONFIGURATION, "pixelfed": {"enable": True}})
        removal = await api.post("/api/v1/account/removal", json={"confirm": "acme", "reason": "moving elsewhere"})
        after = await api.post("/api/v1/configuration", json=CONFIGURATION)

    assert current.status_code == 200 and current.json()["domain"] == "acme.example"
    assert submitted.status_code == 202 and submitted.json()["revision"] == 2
    assert removal.status_code == 202
    assert after.status_code == 409, "nothing more is deployed for an operator who asked to be removed"
    async with old_database.session() as session:
        operator = await session.get(Operator, "acme")
    assert operator.removal_requested_at is not None


async def test_a_migrated_database_takes_sign_ups_beside_the_old_operators(old_database):
    await old_database.migrate(MIGRATIONS)
    context = Context(
        units=UnitsOfWork(old_database, Base.metadata), settings=Settings(), planner=FakePlanner(), vault=FakeVault(), trail=FakeTrail()
    )
    app = create_app(context)
    bea, other = Browser(app), Browser(app)
    async with bea.client, other.client:
        signed_up = await bea.sign_up("bea@blue.example", "blue")
        configured = await bea.configure(configuration_form("blue.example"))
        taken = await other.sign_up("other@acme.example", "acme")

    assert signed_up.headers["location"] == "/configure"
    assert configured.headers["location"] == "/review"
    assert "this name is taken" in taken.text, "the operator from before still holds its name"


async def test_deployments_from_before_0004_are_still_watched_for_being_stuck(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'panel.db'}")
    an_hour_ago = f"{datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1):%Y-%m-%d %H:%M:%S.%f}"
    async with database.engine.begin() as connection:
        await connection.run_sync(upgrade_to("0003"))
        await connection.execute(insert(Operator.__table__).values(id="acme", created_at=datetime.now(UTC)))
        for deployment, state in (("d-running", "running"), ("d-done", "succeeded")):
            await connection.execute(text(
                "INSERT INTO deployment_views (id, operator_id, revision, state, steps_json, changes_json, problems_json, urls_json,"
                " done, total, origin, version, created_at, updated_at)"
                " VALUES (:id, 'acme', 1, :state, '{}', '[]', '[]', '{}', 0, 2, 'operator', 1, :at, :at)"
            ), {"id": deployment, "state": state, "at": an_hour_ago})
    await database.migrate(MIGRATIONS)
    context = Context(
        units=UnitsOfWork(database, Base.metadata), settings=Settings(), planner=FakePlanner(), vault=FakeVault(), trail=FakeTrail()
    )
    under_test = PanelUnderTest(context, create_app(context))
    admin = await under_test.logged_in("staff@provider.example", "", role="provider-admin")
    async with admin.client:
        bus = " ".join(text_of((await admin.get("/admin/bus")).text).split())
        operators = " ".join(text_of((await admin.get("/admin/operators")).text).split())
    await database.close()

    assert re.search(r"acme 1 in progress not recorded \S+ \S+ UTC 60 min", bus), bus
    assert "The bus did not answer" in bus, "no bus is wired in here"
    assert "not counted (deployed before the panel counted resources)" in operators
