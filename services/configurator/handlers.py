"""config.submitted -> plan.created or config.rejected."""

from contracts.events import ConfigRejected, ConfigSubmitted, PlanCreated
from runtime import logs
from runtime.uow import UnitOfWork

from .adapters.store import DesiredStates
from .domain.planning import InvalidConfiguration, changes, plan_resources, validate
from .domain.policy import Policy

PRODUCER = "configurator"
log = logs.get(PRODUCER)


async def plan_submission(event: ConfigSubmitted, uow: UnitOfWork, policy: Policy) -> None:
    try:
        config = validate(event.configuration)
    except InvalidConfiguration as exc:
        log.info("configuration rejected", problems=len(exc.problems))
        uow.publish(event.caused(ConfigRejected, PRODUCER, revision=event.revision, problems=exc.problems))
        return
    states = DesiredStates(uow.session)
    previous = await states.latest(event.operator_id)
    desired = plan_resources(event.operator_id, config, policy)
    deployment_id = event.correlation_id
    states.add(event.operator_id, event.revision, deployment_id, desired)
    uow.publish(
        event.caused(
            PlanCreated,
            PRODUCER,
            deployment_id=deployment_id,
            revision=event.revision,
            domain=config.domain,
            resources=tuple(desired),
            changes=tuple(changes(previous.resources if previous else [], desired)),
        )
    )
    log.info("plan created", resources=len(desired))
