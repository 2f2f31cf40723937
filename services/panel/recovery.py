"""After a failed deployment: trying the same configuration again, or going back to the last
configuration that worked. Either is a new revision submitted like any other (config.submitted),
and written to the audit log."""

from typing import Literal

from . import operators
from .adapters.store import DeploymentView, Panel
from .web.context import Context

RETRY, ROLL_BACK = "retry", "roll_back"
GOOD_ORIGINS = ("operator", "campaign")
"""Succeeded deployments whose revision number names the configuration they applied (a provider's
rollback carries the newest revision's number, whatever configuration it went back to)."""


class NoSuchDeployment(LookupError):
    pass


class NotNow(Exception):
    """The deployment cannot be tried again or undone; the message says why, in an operator's words."""


async def _failed_and_newest(panel: Panel, operator_id: str, deployment_id: str) -> DeploymentView:
    view = await panel.deployment(operator_id, deployment_id)
    if view is None:
        raise NoSuchDeployment(deployment_id)
    if view.state != "failed":
        raise NotNow("Only a deployment that failed can be tried again or undone.")
    if (await panel.deployments(operator_id))[0].id != view.id:
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


async def resubmit(context: Context, operator_id: str, deployment_id: str, how: Literal["retry", "roll_back"], actor: str, via: str) -> DeploymentView:
    """Submits the failed deployment's configuration again (retry), or that of the operator's last
    succeeded deployment (roll_back). Raises NoSuchDeployment, NotNow, operators.RemovalRequested."""
    async with context.units() as uow:
        panel = Panel(uow.session)
        failed = await _failed_and_newest(panel, operator_id, deployment_id)
        source = failed if how == RETRY else await panel.last_succeeded(operator_id, GOOD_ORIGINS)
        configuration = await operators.deployed_configuration(uow.session, operator_id, source) if source else None
        if configuration is None:
            raise NotNow("No earlier configuration of yours has worked yet, so there is nothing to go back to. Try again, or change the configuration."
                         if how == ROLL_BACK else "The panel does not know the configuration of this deployment; change the configuration instead.")
        view = await operators.submit(operator_id, configuration, uow)
    action = "deployment.retried" if how == RETRY else "deployment.rolled_back"
    await context.auditor.record(actor, action, operator_id, deployment=view.id, revision=str(view.revision), failed=deployment_id,
                                 configuration_of_revision=str(source.revision), via=via)
    return view
