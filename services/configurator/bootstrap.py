"""The configurator's composition root."""

from functools import partial

from contracts import subjects
from contracts.commands import OperatorRemovalRequested
from contracts.events import ConfigSubmitted, DeploymentSucceeded
from contracts.requests import PlanPreviewRequest
from runtime.bus import Bus
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from . import handlers
from .adapters.store import Base
from .domain.policy import Policy, PolicyError, load_policy
from .settings import Settings


async def wire(bus: Bus, units: UnitsOfWork, policy: Policy | None = None, settings: Settings | None = None) -> list:
    policy = policy or load_policy((settings or Settings()).policy_file)
    bus.on(ConfigSubmitted, partial(handlers.plan_submission, policy=policy))
    bus.on(DeploymentSucceeded, handlers.record_applied)
    bus.on(OperatorRemovalRequested, partial(handlers.plan_account_removal, policy=policy))
    bus.respond(subjects.PLAN_PREVIEW, PlanPreviewRequest, partial(handlers.preview, units=units, policy=policy))
    return []


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    try:
        policy = load_policy(settings.policy_file)
    except PolicyError as exc:
        raise SystemExit(f"configurator: {exc}") from None
    await serve(settings, Base.metadata, migrations_of(__file__), partial(wire, policy=policy, settings=settings))
