"""Every service's migrations on PostgreSQL, and one message handled end to end with its state in
PostgreSQL, on a throwaway cluster this module starts on a free port."""

import glob
import importlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from sqlalchemy import inspect, select

from contracts import decode, encode
from contracts.catalogue import SERVICES
from contracts.events import ConfigSubmitted, PlanCreated
from contracts.subjects import PLAN_CREATED, STREAM
from runtime.bus import Bus
from runtime.db import Database
from runtime.nats_server import free_port
from runtime.uow import UnitsOfWork
from services.configurator.adapters.store import Base as ConfiguratorBase
from services.configurator.adapters.store import DesiredState
from services.configurator.bootstrap import wire
from services.configurator.settings import Settings as ConfiguratorSettings
from tests.conftest import require

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    require("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")


@dataclass
class Cluster:
    bin: Path
    directory: Path
    port: int
    user: str | None

    def run(self, *command: str) -> subprocess.CompletedProcess:
        if self.user:  # initdb and the server refuse to run as root
            command = ("su", self.user, "-c", subprocess.list2cmdline(command))
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def create_database(self, name: str) -> str:
        self.run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                 "-c", f'CREATE DATABASE "{name}"')  # fmt: skip
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster on a free port, removed afterwards."""
    binaries = postgres_bin()
    directory = Path(tempfile.mkdtemp(prefix="fedi-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        account = pwd.getpwnam(user)
        os.chown(directory, account.pw_uid, account.pw_gid)
    cluster = Cluster(binaries, directory, free_port(), user)
    data = directory / "data"
    try:
        cluster.run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
        options = f"-p {cluster.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        cluster.run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start")
        yield cluster
    finally:
        if (data / "postmaster.pid").exists():
            cluster.run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(directory, ignore_errors=True)


def table_columns(connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {table: {column["name"] for column in inspector.get_columns(table)} for table in inspector.get_table_names()}


@pytest.mark.parametrize("service", SERVICES)
async def test_each_services_migrations_create_every_table_its_code_uses_on_postgresql(postgres, service):
    database = Database(postgres.create_database(f"migrations_{service}"))
    metadata = importlib.import_module(f"services.{service}.adapters.store").Base.metadata
    try:
        await database.migrate(ROOT / "services" / service / "migrations")
        await database.migrate(ROOT / "services" / service / "migrations")  # a restart migrates again: nothing to do
        async with database.engine.connect() as connection:
            found = await connection.run_sync(table_columns)
    finally:
        await database.close()

    assert "alembic_version" in found
    assert {"outbox", "processed_messages"} <= set(found)
    for table in metadata.tables.values():
        assert table.name in found, f"{service}: no migration creates table {table.name}"
        missing = {column.name for column in table.columns} - found[table.name]
        assert not missing, f"{service}: table {table.name} lacks columns {missing} after migrating"


async def test_a_submitted_configuration_is_planned_once_with_its_desired_state_in_postgresql(postgres, nats_server, eventually):
    database = Database(postgres.create_database("configurator_round_trip"))
    await database.migrate(ROOT / "services" / "configurator" / "migrations")
    units = UnitsOfWork(database, ConfiguratorBase.metadata)
    settings = ConfiguratorSettings(nats_url=nats_server.url, max_deliveries=3, redelivery_backoff_seconds=0.05)
    bus = Bus(settings.service_name, settings, units)
    await wire(bus, units, fleet_out=[])
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await bus.start()
        submitted = ConfigSubmitted(
            correlation_id="dep-pg-1",
            operator_id="acme",
            producer="panel",
            revision=1,
            configuration={
                "domain": "example.org",
                "initialUser": {"username": "alice", "displayName": "Alice", "email": "alice@example.org"},
                "mastodon": {"enable": True},
            },
        )
        for msg_id in ("first", "second"):  # a duplicate under another Nats-Msg-Id must not plan twice
            published = await js.publish(submitted.type, encode(submitted), stream=STREAM, headers={"Nats-Msg-Id": msg_id})

        async def acknowledged():
            info = await js.consumer_info(STREAM, "configurator-config-submitted")
            return info.ack_floor.stream_seq >= published.seq and info.num_ack_pending == 0

        async def planned():
            info = await js.stream_info(STREAM, subjects_filter=PLAN_CREATED)
            return info.state.subjects and info.state.subjects.get(PLAN_CREATED)

        await eventually(acknowledged, "both copies of config.submitted acknowledged")
        await eventually(planned, "a plan.created in the stream")
        plan = decode((await js.get_last_msg(STREAM, PLAN_CREATED)).data)
        async with database.session() as session:
            states = (await session.execute(select(DesiredState))).scalars().all()
        info = await js.stream_info(STREAM, subjects_filter=PLAN_CREATED)
    finally:
        await bus.stop()
        await nc.close()
        await database.close()

    assert info.state.subjects == {PLAN_CREATED: 1}
    assert isinstance(plan, PlanCreated)
    assert (plan.deployment_id, plan.causation_id, plan.domain) == ("dep-pg-1", str(submitted.event_id), "example.org")
    assert [(state.operator_id, state.revision, state.deployment_id) for state in states] == [("acme", 1, "dep-pg-1")]
    assert [resource.id for resource in states[0].resources] == [resource.id for resource in plan.resources]
