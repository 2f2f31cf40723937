"""A fleet on the sandbox for campaign tests and the campaign benchmark: storage, identity and the
orchestrator as processes on the embedded stack, the configurator in this process with a fake
clock, so that weeks of maintenance windows pass in seconds while deployments run for real."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
from sqlalchemy import select

from contracts import Message, decode, encode
from contracts.events import ConfigSubmitted
from contracts.fleet import FLEET, CampaignControlRequested, CampaignRequested, Waves
from contracts.subjects import STREAM
from fedi.stack import Stack
from runtime.bus import Bus
from runtime.db import Database
from runtime.service import migrations_of
from runtime.uow import UnitsOfWork
from sandbox.nixos_target import records, state
from services.configurator import bootstrap
from services.configurator.adapters.store import Base, DesiredState
from services.configurator.campaigns.store import Campaign, Part
from services.configurator.settings import Settings

IN_FLIGHT = ("started", "rolling_back")


class FakeClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def advance(self, by: timedelta) -> None:
        self.moment += by


def configuration(operator: str) -> dict:
    return {
        "domain": f"{operator}.example",
        "initialUser": {"username": "alice", "displayName": "Alice", "email": f"alice@{operator}.example"},
        "mastodon": {"enable": True},
    }


class Fleet:
    def __init__(self, home: Path, clock: FakeClock, env: dict[str, str] | None = None) -> None:
        self.clock = clock
        self.stack = Stack(home, panel_port=0, services=("storage", "identity", "orchestrator"), env=env or {})

    async def start(self) -> "Fleet":
        await asyncio.to_thread(self.stack.start)
        env = self.stack.service_env("configurator")
        self.settings = Settings(**{key.removeprefix("FEDI_CONFIGURATOR_").lower(): value for key, value in env.items()})
        self.database = Database(self.settings.sqlalchemy_url())
        await self.database.migrate(migrations_of(bootstrap.__file__))
        self.units = UnitsOfWork(self.database, Base.metadata)
        self.bus = Bus("configurator", self.settings, self.units)
        schedulers: list = []
        await bootstrap.wire(self.bus, self.units, settings=self.settings, clock=self.clock, fleet_out=schedulers)
        self.scheduler = schedulers[0]
        await self.bus.start()
        self.nc = await nats.connect(self.stack.nats.url, **self.stack.admin_options())
        return self

    async def stop(self) -> None:
        await self.nc.close()
        await self.bus.stop()
        await self.database.close()
        await asyncio.to_thread(self.stack.stop)

    async def publish(self, message: Message) -> None:
        await self.nc.jetstream().publish(message.type, encode(message), stream=STREAM, headers={"Nats-Msg-Id": str(message.event_id)})

    # -- the fleet before any campaign ---------------------------------------------------------------

    async def deploy(self, operators: list[str], timeout: float = 600) -> None:
        """Every operator's first deployment, through the configurator and the orchestrator."""
        for operator in operators:
            await self.publish(ConfigSubmitted(
                correlation_id=str(uuid.uuid4()), operator_id=operator, producer="panel", revision=1, configuration=configuration(operator)
            ))
        await self.until(lambda: self._applied(operators), timeout, "every operator deployed")

    async def _applied(self, operators: list[str]) -> bool:
        async with self.database.session() as session:
            query = select(DesiredState.operator_id).where(DesiredState.applied_at.is_not(None))
            return set(operators) <= set((await session.execute(query)).scalars())

    # -- campaigns ----------------------------------------------------------------------------------

    async def campaign(self, changes: dict, waves: Waves, category: str = "routine", notice_days: float = 7) -> str:
        campaign_id = f"camp-{uuid.uuid4()}"
        await self.publish(CampaignRequested(
            correlation_id=campaign_id, operator_id=FLEET, producer="panel", title=f"Update {changes}", reason="Tested.",
            category=category, policy_changes=changes, notice_days=notice_days, deadline=self.clock.now() + timedelta(days=60),
            waves=waves, requested_by="tests",
        ))
        await self.until(lambda: self.get(Campaign, campaign_id), 30, "the campaign scheduled")
        return campaign_id

    async def run(self, campaign_id: str, timeout: float = 600, step: timedelta = timedelta(hours=1),
                  until: Callable[[Campaign, list[Part]], bool] | None = None) -> Campaign:
        """Lets time pass, an hour at a time, while no update is in flight, until the campaign stops
        moving (completed, halted or cancelled with nothing left in flight), or, given `until`, until
        that holds of the campaign and its parts, whatever the campaign's state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.scheduler.tick()
            campaign, parts = await self.get(Campaign, campaign_id), await self.parts(campaign_id)
            if any(part.state in IN_FLIGHT for part in parts):
                await asyncio.sleep(0.2)
                continue
            if until is not None and until(campaign, parts):
                return campaign
            if until is None and campaign.state != "running" and not await self.scheduler.tick():
                return campaign
            self.clock.advance(step)
        raise AssertionError(f"campaign {campaign_id} still running after {timeout:.0f}s")

    async def events(self, model: type[Message]) -> list:
        """Every message of that kind on the stream, oldest first."""
        subscription = await self.nc.jetstream().pull_subscribe(model.model_fields["type"].default, stream=STREAM)
        try:
            found = []
            while pending := (await subscription.consumer_info()).num_pending:
                found += [decode(message.data) for message in await subscription.fetch(pending)]
            return found
        finally:
            await subscription.unsubscribe()

    async def cancel(self, campaign_id: str) -> None:
        await self.publish(CampaignControlRequested(
            correlation_id=campaign_id, operator_id=FLEET, producer="panel", campaign_id=campaign_id, action="cancel", requested_by="tests",
        ))
        await self.until(lambda: self._in_state(campaign_id, "cancelled"), 30, "the campaign cancelled")

    async def _in_state(self, campaign_id: str, state: str) -> bool:
        return (await self.get(Campaign, campaign_id)).state == state

    async def campaigns_in(self, state: str) -> list[str]:
        async with self.database.session() as session:
            return list((await session.execute(select(Campaign.id).where(Campaign.state == state))).scalars())

    async def get(self, model, key):
        async with self.database.session() as session:
            return await session.get(model, key)

    async def parts(self, campaign_id: str) -> list[Part]:
        async with self.database.session() as session:
            return list((await session.execute(select(Part).where(Part.campaign_id == campaign_id))).scalars())

    # -- what the sandbox holds --------------------------------------------------------------------

    def fail_activations(self, entries: list[str]) -> None:
        state.set_failing(self.stack.sandbox / "nixos", entries)

    def deployed(self) -> dict[str, str]:
        """VM name -> the hash of the configuration it runs."""
        return {vm: record["configHash"] for vm, record in records(self.stack.sandbox / "nixos").items()}

    async def releases(self) -> dict[str, str]:
        """Operator -> the release in its newest applied desired state."""
        async with self.database.session() as session:
            states = list((await session.execute(select(DesiredState).where(DesiredState.applied_at.is_not(None)))).scalars())
        newest: dict[str, DesiredState] = {}
        for desired in states:
            if desired.operator_id not in newest or desired.sequence > newest[desired.operator_id].sequence:
                newest[desired.operator_id] = desired
        return {
            operator: next(r.spec.config["fediversity"]["release"] for r in desired.resources if r.kind == "nixos")
            for operator, desired in newest.items()
        }

    async def until(self, probe, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := await probe():
                return result
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")


def monday_noon() -> datetime:
    return datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
