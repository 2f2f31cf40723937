"""The configurator as a service on a real nats-server and SQLite: plans against what the
orchestrator reported applied, refusals with reasons, account removal with its record, the plan
preview over request/reply, and the provider's policy file."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import nats
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, insert, select, text

from contracts import decode, encode
from contracts.commands import OperatorRemovalRequested
from contracts.events import ConfigRejected, ConfigSubmitted, DeploymentFailed, DeploymentSucceeded, PlanCreated
from contracts.requests import PlanPreviewReply, PlanPreviewRequest
from contracts.subjects import PLAN_PREVIEW, STREAM
from runtime.bus import Bus
from runtime.db import Database
from runtime.service import migrations_of
from runtime.stream import ensure_stream
from runtime.uow import UnitsOfWork
from services.configurator import bootstrap, handlers
from services.configurator.adapters.store import Base, DesiredState, RemovalRecord, Removals
from services.configurator.domain.policy import Policy, parse_policy
from services.configurator.settings import Settings

pytestmark = pytest.mark.integration

MIGRATIONS = migrations_of(bootstrap.__file__)
ALL_ON = Policy()
ALL_OFF = parse_policy("dns: {enabled: false}\nmail_relay: {enabled: false}\nssh_keys: {enabled: false}")


def configuration(domain: str = "acme.example", **services) -> dict:
    return {
        "domain": domain,
        "initialUser": {"username": "alice", "displayName": "Alice", "email": f"alice@{domain}"},
        **{name: {"enable": True, **options} for name, options in services.items()},
    }


class Configurator:
    """The configurator wired on a bus, and what a test does around it: publish, wait, look."""

    def __init__(self, nats_url: str, tmp_path: Path, policy: Policy, clock=None) -> None:
        self.settings = Settings(nats_url=nats_url, data_dir=tmp_path, max_deliveries=3, redelivery_backoff_seconds=0.05)
        self.database = Database(self.settings.sqlalchemy_url())
        self.units = UnitsOfWork(self.database, Base.metadata)
        self.bus = Bus("configurator", self.settings, self.units)
        self.policy = policy
        self.nc = None
        self.revisions: dict[str, int] = {}
        self.clock = clock
        self.fleet = None
        """The campaigns' scheduler, ticked by the test itself."""

    async def start(self) -> "Configurator":
        await self.database.migrate(MIGRATIONS)
        schedulers: list = []
        await bootstrap.wire(self.bus, self.units, policy=self.policy, settings=self.settings, clock=self.clock, fleet_out=schedulers)
        self.fleet = schedulers[0]
        await self.bus.start()
        self.nc = await nats.connect(self.settings.nats_url)
        await ensure_stream(self.nc.jetstream())
        return self

    async def stop(self) -> None:
        await self.bus.stop()
        await self.nc.close()
        await self.database.close()

    async def publish(self, message) -> None:
        await self.nc.jetstream().publish(message.type, encode(message), stream=STREAM, headers={"Nats-Msg-Id": str(message.event_id)})

    async def submit(self, document: dict, operator: str = "acme") -> ConfigSubmitted:
        self.revisions[operator] = self.revisions.get(operator, 0) + 1
        message = ConfigSubmitted(
            correlation_id=f"dep-{uuid4()}", operator_id=operator, producer="panel", revision=self.revisions[operator], configuration=document
        )
        await self.publish(message)
        return message

    async def succeed(self, cause) -> None:
        await self.publish(
            DeploymentSucceeded(
                correlation_id=cause.correlation_id, operator_id=cause.operator_id, producer="orchestrator",
                deployment_id=cause.correlation_id, revision=getattr(cause, "revision", 0), duration_seconds=1.0, urls={},
            )
        )

    async def answer_to(self, cause, eventually):
        """The plan.created or config.rejected the configurator published for `cause`."""

        async def published():
            js = self.nc.jetstream()
            last = (await js.stream_info(STREAM)).state.last_seq
            for sequence in range(1, last + 1):
                raw = await js.get_msg(STREAM, sequence)
                if raw.subject in ("plan.created", "config.rejected"):
                    message = decode(raw.data)
                    if message.causation_id == str(cause.event_id):
                        return message
            return None

        return await eventually(published, f"the configurator's answer to {cause.type}")

    async def applied(self, cause, eventually) -> None:
        async def recorded():
            async with self.database.session() as session:
                state = (await session.execute(select(DesiredState).where(DesiredState.deployment_id == cause.correlation_id))).scalar_one_or_none()
                removal = await session.get(RemovalRecord, cause.correlation_id)
            return (state is not None and state.applied_at is not None) or (removal is not None and removal.completed_at is not None)

        await self.succeed(cause)
        await eventually(recorded, "the deployment recorded as applied")

    async def rows(self, model) -> list:
        async with self.database.session() as session:
            return list((await session.execute(select(model))).scalars())


@pytest.fixture
async def start_configurator(nats_server, tmp_path):
    started: list[Configurator] = []

    async def start(policy: Policy = ALL_ON, clock=None) -> Configurator:
        configurator = await Configurator(nats_server.url, tmp_path, policy, clock).start()
        started.append(configurator)
        return configurator

    yield start
    for configurator in started:
        await configurator.stop()


@pytest.fixture
async def configurator(start_configurator) -> Configurator:
    return await start_configurator()


def by_id(plan: PlanCreated) -> dict[str, str]:
    return {change.resource_id: change.action for change in plan.changes}


# -- plans -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "kinds"),
    [(ALL_ON, {"sshkey", "vm", "bucket", "account", "mail", "dns", "nixos"}), (ALL_OFF, {"vm", "bucket", "account", "nixos"})],
    ids=["dns, mail and keys on", "dns, mail and keys off"],
)
async def test_a_submitted_configuration_becomes_a_plan_of_every_resource_the_policy_asks_for(start_configurator, eventually, policy, kinds):
    configurator = await start_configurator(policy)

    submitted = await configurator.submit(configuration(mastodon={}, pixelfed={}))
    plan = await configurator.answer_to(submitted, eventually)

    assert isinstance(plan, PlanCreated)
    assert (plan.deployment_id, plan.revision, plan.domain) == (submitted.correlation_id, 1, "acme.example")
    assert {resource.kind for resource in plan.resources} == kinds
    assert {change.action for change in plan.changes} == {"create"}
    [state] = await configurator.rows(DesiredState)
    assert (state.revision, state.applied_at, state.configuration) == (1, None, submitted.configuration)


async def test_once_applied_the_same_configuration_again_changes_nothing(configurator, eventually):
    first = await configurator.submit(configuration(mastodon={}))
    await configurator.answer_to(first, eventually)
    await configurator.applied(first, eventually)

    again = await configurator.answer_to(await configurator.submit(configuration(mastodon={})), eventually)

    assert {change.action for change in again.changes} == {"unchanged"}


async def test_until_something_is_applied_a_new_plan_still_creates_everything(configurator, eventually):
    first = await configurator.answer_to(await configurator.submit(configuration(mastodon={})), eventually)

    again = await configurator.answer_to(await configurator.submit(configuration(mastodon={})), eventually)

    assert by_id(again) == by_id(first) == {change.resource_id: "create" for change in first.changes}


async def test_a_service_switched_off_is_deleted_with_its_data_only_when_the_operator_chose_so(configurator, eventually):
    first = await configurator.submit(configuration(mastodon={}, pixelfed={}))
    await configurator.answer_to(first, eventually)
    await configurator.applied(first, eventually)

    document = configuration(mastodon={}) | {"pixelfed": {"enable": False, "dataOnDisable": "delete"}}
    plan = await configurator.answer_to(await configurator.submit(document), eventually)

    deleted = {c.resource_id: c for c in plan.changes if c.action == "delete"}
    assert set(deleted) == {f"acme/pixelfed/{kind}" for kind in ("vm", "bucket", "account", "mail", "dns/host", "nixos")}
    assert deleted["acme/pixelfed/bucket"].data == "delete"
    assert deleted["acme/pixelfed/vm"].spec["name"] == "acme-pixelfed"
    assert "acme/pixelfed/vm" not in {resource.id for resource in plan.resources}


async def test_a_plan_over_quota_is_rejected_with_the_numbers_and_nothing_is_kept(start_configurator, eventually):
    configurator = await start_configurator(parse_policy("quota: {memory_gib: 8}"))

    answer = await configurator.answer_to(await configurator.submit(configuration(mastodon={}, peertube={})), eventually)

    assert isinstance(answer, ConfigRejected)
    assert [(p.field, p.message) for p in answer.problems] == [
        ("services", "Mastodon and PeerTube need 12 GiB of memory; your plan allows 8 GiB")
    ]
    assert await configurator.rows(DesiredState) == []


async def test_a_domain_outside_the_providers_parent_domains_is_rejected_on_its_field(start_configurator, eventually):
    configurator = await start_configurator(parse_policy("allowed_parent_domains: [fedi.provider.example]"))

    answer = await configurator.answer_to(await configurator.submit(configuration("acme.example", mastodon={})), eventually)

    assert isinstance(answer, ConfigRejected)
    assert [p.field for p in answer.problems] == ["domain"]
    assert "fedi.provider.example" in answer.problems[0].message


# -- account removal ------------------------------------------------------------------------------


async def test_removing_an_account_deletes_everything_keeps_a_record_and_then_starts_afresh(configurator, eventually):
    first = await configurator.submit(configuration(mastodon={}, pixelfed={}))
    applied = await configurator.answer_to(first, eventually)
    await configurator.applied(first, eventually)

    removal = OperatorRemovalRequested(correlation_id=f"rm-{uuid4()}", operator_id="acme", producer="panel", reason="closing")
    await configurator.publish(removal)
    plan = await configurator.answer_to(removal, eventually)

    assert isinstance(plan, PlanCreated)
    assert (plan.deployment_id, plan.revision, plan.domain, plan.resources) == (removal.correlation_id, 2, "acme.example", ())
    sweeps = {"acme/_/directory", "acme/_/storage", "acme/_/machines"}
    assert by_id(plan) == {resource.id: "delete" for resource in applied.resources} | dict.fromkeys(sweeps, "delete")
    assert {c.data for c in plan.changes if c.kind == "bucket"} == {"delete"}
    assert [c.kind for c in plan.changes if c.resource_id == "acme/_/directory"] == ["directory"], "identity removes its directory"
    assert [c.kind for c in plan.changes if c.resource_id == "acme/_/storage"] == ["storage"], "storage removes what else it holds"
    assert [c.kind for c in plan.changes if c.resource_id == "acme/_/machines"] == ["machines"], "the orchestrator every other VM"
    [record] = await configurator.rows(RemovalRecord)
    assert (record.operator_id, record.reason, record.completed_at) == ("acme", "closing", None)
    assert {item["resource_id"] for item in record.removed} == {resource.id for resource in applied.resources} | sweeps
    assert timedelta(days=2556) < record.keep_until - record.requested_at <= timedelta(days=2557)

    refused = await configurator.answer_to(await configurator.submit(configuration(mastodon={})), eventually)
    assert isinstance(refused, ConfigRejected) and refused.problems[0].field == "operator"

    await configurator.applied(removal, eventually)
    [record] = await configurator.rows(RemovalRecord)
    assert record.completed_at is not None
    held, gone = record.accounting
    assert (held["revision"], held["vms"], held["buckets"], held["cores"]) == (1, 2, 2, sum(r.spec.cores for r in applied.resources if r.kind == "vm"))
    assert (gone["vms"], gone["buckets"]) == (0, 0) and gone["from"] >= held["from"], "the accounting record says what was held until when"
    assert await configurator.rows(DesiredState) == []
    configurator.revisions["acme"] = 0
    fresh = await configurator.answer_to(await configurator.submit(configuration(mastodon={})), eventually)
    assert {change.action for change in fresh.changes} == {"create"}


async def test_a_removal_whose_deployment_failed_does_not_leave_the_operator_stuck(configurator, eventually):
    first = await configurator.submit(configuration(mastodon={}))
    await configurator.answer_to(first, eventually)
    await configurator.applied(first, eventually)
    removal = OperatorRemovalRequested(correlation_id=f"rm-{uuid4()}", operator_id="acme", producer="panel", reason="closing")
    await configurator.publish(removal)
    await configurator.answer_to(removal, eventually)

    await configurator.publish(DeploymentFailed(
        correlation_id=removal.correlation_id, operator_id="acme", producer="orchestrator", deployment_id=removal.correlation_id,
        revision=2, failed_step="acme/mastodon/vm", reason="acme/mastodon/vm: Proxmox refused",
    ))

    async def marked_failed():
        return [r for r in await configurator.rows(RemovalRecord) if r.failed_at is not None]

    await eventually(marked_failed, "the removal marked failed")
    again = OperatorRemovalRequested(correlation_id=f"rm-{uuid4()}", operator_id="acme", producer="panel", reason="closing, again")
    await configurator.publish(again)
    plan = await configurator.answer_to(again, eventually)
    assert isinstance(plan, PlanCreated) and {c.action for c in plan.changes} == {"delete"}, "asked again, it is planned again"


async def test_removal_records_are_dropped_once_their_retention_is_over(configurator, eventually):
    long_ago = datetime.now(UTC) - timedelta(days=4000)
    async with configurator.units() as uow:
        for name, keep_until in (("old", long_ago + timedelta(days=2557)), ("recent", datetime.now(UTC) + timedelta(days=10))):
            Removals(uow.session).add(RemovalRecord(deployment_id=name, operator_id=name, reason="", removed_json="[]",
                                                    requested_at=long_ago, completed_at=long_ago, keep_until=keep_until))
        await uow.commit()

    housekeeping = asyncio.create_task(handlers.purge_expired_removals(configurator.units, every_seconds=3600))
    try:
        async def only_the_recent_one():
            return [record.deployment_id for record in await configurator.rows(RemovalRecord)] == ["recent"]

        await eventually(only_the_recent_one, "the expired record dropped, the recent one kept")
    finally:
        housekeeping.cancel()


# -- plan preview -------------------------------------------------------------------------------


async def preview(configurator, document: dict, operator: str = "acme") -> PlanPreviewReply:
    request = PlanPreviewRequest(operator_id=operator, configuration=document)
    reply = await configurator.nc.request(PLAN_PREVIEW, request.model_dump_json().encode(), timeout=5)
    return PlanPreviewReply.model_validate_json(reply.data)


async def count(configurator, table: str) -> int:
    async with configurator.database.session() as session:
        return (await session.execute(text(f"select count(*) from {table}"))).scalar_one()


async def test_the_preview_answers_with_the_plan_against_what_is_applied_and_writes_nothing(configurator, eventually):
    first = await configurator.submit(configuration(mastodon={}))
    await configurator.answer_to(first, eventually)
    await configurator.applied(first, eventually)
    before = {table: await count(configurator, table) for table in ("desired_states", "outbox", "removal_records")}

    reply = await preview(configurator, configuration(mastodon={}, pixelfed={}))

    assert reply.problems == ()
    assert {c.resource_id: c.action for c in reply.changes if c.action != "unchanged"} == {
        f"acme/pixelfed/{kind}": "create" for kind in ("vm", "bucket", "account", "mail", "dns/host", "nixos")
    }
    assert {r.id for r in reply.resources} >= {"acme/mastodon/vm", "acme/pixelfed/vm"}
    assert {table: await count(configurator, table) for table in before} == before


async def test_the_preview_of_a_bad_configuration_answers_with_the_reasons(start_configurator):
    configurator = await start_configurator(parse_policy("quota: {vms: 1}"))

    document = configuration(mastodon={}, pixelfed={}) | {"domain": "nope"}
    document["initialUser"]["email"] = "nobody"
    reply = await preview(configurator, document)
    assert {p.field for p in reply.problems} == {"domain", "initialUser.email"}

    reply = await preview(configurator, configuration(mastodon={}, pixelfed={}))
    assert [p.message for p in reply.problems] == ["Mastodon and Pixelfed need 2 VMs; your plan allows 1"]
    assert reply.resources == () and reply.changes == ()


# -- the policy file and the database's history ------------------------------------------------------


def test_the_policy_file_is_named_by_an_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("FEDI_CONFIGURATOR_POLICY_FILE", str(tmp_path / "policy.yaml"))
    assert Settings().policy_file == tmp_path / "policy.yaml"


async def test_the_service_refuses_to_start_with_an_invalid_policy_saying_what_is_wrong(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("placement: spread\nquota: {vms: -1}\n")

    with pytest.raises(SystemExit) as stopped:
        await bootstrap.main(Settings(policy_file=path, data_dir=tmp_path))

    message = str(stopped.value)
    assert message.startswith(f"configurator: the provider policy {path} is invalid:")
    assert "placement: Input should be 'per_service' or 'combined'" in message and "quota.vms:" in message


async def test_a_database_from_before_applied_states_takes_each_operators_newest_plan_as_applied(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")

    def to(revision):
        def upgrade(connection):
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return upgrade

    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(to("0001"))
            table = DesiredState.__table__
            for revision in (1, 2):
                await connection.execute(
                    insert(table).values(operator_id="acme", revision=revision, deployment_id=f"d{revision}",
                                         resources_json="[]", created_at=datetime.now(UTC))
                )
        await database.migrate(MIGRATIONS)
        async with database.session() as session:
            applied = (await session.execute(select(DesiredState.revision).where(DesiredState.applied_at.is_not(None)))).scalars().all()
            removals = (await session.execute(select(func.count()).select_from(RemovalRecord))).scalar_one()
    finally:
        await database.close()

    assert applied == [2]
    assert removals == 0
