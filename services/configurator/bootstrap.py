"""The configurator's composition root."""

from functools import partial

from contracts import subjects
from contracts.commands import OperatorRemovalRequested
from contracts.events import ConfigSubmitted, DeploymentCancelled, DeploymentFailed, DeploymentSucceeded
from contracts.fleet import (
    CampaignControlRequested,
    CampaignPreviewRequest,
    CampaignRequested,
    CampaignStatusRequest,
    MaintenanceWindowChosen,
)
from contracts.requests import PlanPreviewRequest
from runtime.bus import Bus
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from . import handlers
from .adapters.store import Base
from .campaigns.fleet import Clock, Fleet
from .domain.policy import Policy, PolicyError, load_policy
from .policies import Policies
from .settings import Settings


async def wire(bus: Bus, units: UnitsOfWork, policy: Policy | None = None, settings: Settings | None = None,
               clock: Clock | None = None, fleet_out: list | None = None) -> list:
    """`clock`: the campaigns' time (tests pass a fake one); `fleet_out` receives the Fleet, for tests
    that drive its scheduler themselves (then it is not run in the background)."""
    settings = settings or Settings()
    policies = Policies(policy or load_policy(settings.policy_file))
    fleet = Fleet(units, policies, clock)
    bus.on(ConfigSubmitted, partial(handlers.plan_submission, policies=policies))
    bus.on(DeploymentSucceeded, partial(handlers.record_applied, fleet=fleet))
    bus.on(DeploymentFailed, partial(handlers.record_ended, fleet=fleet))
    bus.on(DeploymentCancelled, partial(handlers.record_ended, fleet=fleet))
    bus.on(OperatorRemovalRequested, partial(handlers.plan_account_removal, policies=policies))
    bus.on(CampaignRequested, fleet.request)
    bus.on(CampaignControlRequested, fleet.control)
    bus.on(MaintenanceWindowChosen, fleet.choose)
    bus.respond(subjects.PLAN_PREVIEW, PlanPreviewRequest, partial(handlers.preview, units=units, policies=policies))
    bus.respond(subjects.CAMPAIGN_PREVIEW, CampaignPreviewRequest, fleet.preview)
    bus.respond(subjects.CAMPAIGN_STATUS, CampaignStatusRequest, fleet.status)
    if fleet_out is not None:
        fleet_out.append(fleet)
        return []
    return [fleet.run_forever(settings.campaign_tick_seconds), handlers.purge_expired_removals(units)]


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    try:
        policy = load_policy(settings.policy_file)
    except PolicyError as exc:
        raise SystemExit(f"configurator: {exc}") from None
    await serve(settings, Base.metadata, migrations_of(__file__), partial(wire, policy=policy, settings=settings))
