"""After a failed deployment: trying the same configuration again, or going back to the last
configuration that worked. Either is a new revision submitted like any other (config.submitted), and
written to the audit log. Trying again is submitted at once: its configuration was reviewed already.
Going back from the pages is first kept as a draft whose plan the operator reviews, having chosen
whether to keep or delete the data of the services it switches off; Deploy submits it. Going back
keeps that data unless the operator chose to delete it."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.configuration import SERVICES, OperatorConfiguration
from contracts.resources import Change

from . import operators
from .adapters.store import DeploymentView, Panel
from .domain.wording import service_name, service_of
from .web.context import Context

RETRY, ROLL_BACK = "retry", "roll_back"
AUDITED = {RETRY: "deployment.retried", ROLL_BACK: "deployment.rolled_back"}
GOOD_ORIGINS = ("operator", "campaign")
"""Succeeded deployments whose revision number names the configuration they applied (a provider's
rollback carries the newest revision's number, whatever configuration it went back to)."""


class NoSuchDeployment(LookupError):
    pass


class NotNow(Exception):
    """The deployment cannot be tried again or undone; the message says why, in an operator's words."""


@dataclass(frozen=True)
class Recovery:
    """What trying again or going back from a failed deployment submits."""

    failed_id: str
    how: Literal["retry", "roll_back"]
    revision: int
    """The revision whose configuration is submitted again."""
    configuration: OperatorConfiguration


async def _failed_and_newest(panel: Panel, operator_id: str, deployment_id: str) -> DeploymentView:
    view = await panel.deployment(operator_id, deployment_id)
    if view is None:
        raise NoSuchDeployment(deployment_id)
    if view.state != "failed":
        raise NotNow("Only a deployment that failed can be tried again or undone.")
    if (await panel.latest(operator_id)).id != view.id:
        raise NotNow("Something newer was deployed since this one failed, so it can no longer be tried again or undone. See your history.")
    return view


async def choices(panel: Panel, operator_id: str, deployment_id: str) -> tuple[bool, int | None]:
    """(whether the deployment can be tried again, the revision it can go back to, if any)."""
    try:
        await _failed_and_newest(panel, operator_id, deployment_id)
    except (NoSuchDeployment, NotNow):
        return False, None
    good = await panel.last_succeeded(operator_id, GOOD_ORIGINS)
    return True, good.revision if good else None


async def _recovery(session: AsyncSession, operator_id: str, deployment_id: str, how: Literal["retry", "roll_back"]) -> Recovery:
    panel = Panel(session)
    failed = await _failed_and_newest(panel, operator_id, deployment_id)
    source = failed if how == RETRY else await panel.last_succeeded(operator_id, GOOD_ORIGINS)
    configuration = await operators.deployed_configuration(session, operator_id, source) if source else None
    if configuration is None:
        raise NotNow("No earlier configuration of yours has worked yet, so there is nothing to go back to. Try again, or change the configuration."
                     if how == ROLL_BACK else "The panel does not know the configuration of this deployment; change the configuration instead.")
    return Recovery(deployment_id, how, source.revision, configuration if how == RETRY else with_data(configuration, {}))


def with_data(configuration: OperatorConfiguration, chosen: Mapping[str, str]) -> OperatorConfiguration:
    """The configuration with the data of every service it switches off kept, or deleted where `chosen`
    says so (what was chosen when a service was switched off before was about the data it had then)."""
    document = configuration.model_dump(mode="json", by_alias=True)
    for name in SERVICES:
        if not document[name]["enable"]:
            document[name]["dataOnDisable"] = chosen.get(name, "keep")
    return OperatorConfiguration.model_validate(document)


async def _record(context: Context, actor: str, operator_id: str, recovery: Recovery, view: DeploymentView, via: str) -> None:
    await context.auditor.record(actor, AUDITED[recovery.how], operator_id, deployment=view.id, revision=str(view.revision),
                                 failed=recovery.failed_id, configuration_of_revision=str(recovery.revision), via=via)


async def resubmit(context: Context, operator_id: str, deployment_id: str, how: Literal["retry", "roll_back"], actor: str, via: str) -> DeploymentView:
    """Submits at once the failed deployment's configuration again (retry), or that of the operator's
    last succeeded deployment with the data of the services it switches off kept (roll_back).
    Raises NoSuchDeployment, NotNow, operators.RemovalRequested."""
    async with context.units() as uow:
        recovery = await _recovery(uow.session, operator_id, deployment_id, how)
        view = await operators.submit(operator_id, recovery.configuration, uow)
    await _record(context, actor, operator_id, recovery, view, via)
    return view


# -- going back from the pages: reviewed before it is deployed ------------------------------------


async def going_back(context: Context, operator_id: str, deployment_id: str) -> Recovery:
    """What going back from the failed deployment would submit, with the data of the services it
    switches off kept. Raises NoSuchDeployment, NotNow."""
    async with context.units.database.session() as session:
        return await _recovery(session, operator_id, deployment_id, ROLL_BACK)


def data_at_stake(configuration: OperatorConfiguration, changes: Iterable[Change]) -> tuple[str, ...]:
    """The services the configuration switches off whose data (a machine's disk, stored media) its
    plan closes: the operator chooses whether it is kept or deleted."""
    closed = {change.service or service_of(change.resource_id) for change in changes if change.action == "delete" and change.data}
    return tuple(name for name in SERVICES if name in closed and not configuration.service(name).enable)


def _intent(revision: int, chosen: Mapping[str, str]) -> str:
    data = [f"keeping {service_name(name)}'s data" if choice == "keep" else f"deleting {service_name(name)}'s data for good"
            for name, choice in chosen.items()]
    return f"Go back to revision {revision}, the last configuration that worked" + (", " + " and ".join(data) if data else "")


async def keep_for_review(context: Context, operator_id: str, back: Recovery, chosen: Mapping[str, str]) -> None:
    """Keeps going back as the draft to review, the data of each service it switches off kept or deleted as chosen."""
    async with context.units.database.session() as session:
        await operators.save_draft(session, operator_id, with_data(back.configuration, chosen), _intent(back.revision, chosen),
                                   going_back_from=back.failed_id)


async def deploy_reviewed(context: Context, operator_id: str, reviewed_digest: str, actor: str, via: str) -> DeploymentView:
    """Submits the draft the operator reviewed (raises operators.StaleDraft when it changed since). A
    draft going back from a failed deployment is submitted, and recorded as going back, only while
    that deployment is still the newest and failed; otherwise the draft is dropped and NotNow raised."""
    async with context.units() as uow:
        draft = await operators.take_draft(uow.session, operator_id, reviewed_digest)
        back = None
        if draft.going_back_from:
            try:
                back = await _recovery(uow.session, operator_id, draft.going_back_from, ROLL_BACK)
            except (NotNow, NoSuchDeployment):
                await uow.commit()  # without the draft: there is nothing left to go back from
                raise NotNow("Something newer was deployed since the failed deployment, so going back from it is no longer possible. "
                             "See your history.") from None
        view = await operators.submit(operator_id, draft.configuration, uow)
    if back is not None:
        await _record(context, actor, operator_id, back, view, via)
    else:
        await context.auditor.record(actor, "config.submitted", operator_id, deployment=view.id, revision=str(view.revision),
                                     intent=draft.intent.lower(), via=via)
    return view
