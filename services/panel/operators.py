"""Operators, their API tokens, configuration drafts and revisions, and asking for removal."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import OperatorRemovalRequested
from contracts.configuration import OperatorConfiguration
from contracts.events import ConfigSubmitted
from runtime.uow import UnitOfWork

from .adapters.store import ApiToken, DeploymentView, Draft, Operator, Panel, Revision, now
from .domain.accounts import OPERATOR_NAME, OPERATOR_NAME_RULE

PRODUCER = "panel"


class OperatorExists(ValueError):
    pass


class RemovalRequested(Exception):
    """The operator asked to be removed: nothing more is deployed for them."""


class StaleDraft(Exception):
    """The draft changed (or is gone) since the operator reviewed its plan."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_operator(session: AsyncSession, name: str) -> str:
    """Creates the operator and returns its API token (only its hash is stored)."""
    if not OPERATOR_NAME.match(name):
        raise ValueError(f"operator names are {OPERATOR_NAME_RULE}")
    if await session.get(Operator, name) is not None:
        raise OperatorExists(f"operator {name} already exists")
    token = f"fedi_{secrets.token_urlsafe(32)}"
    session.add(Operator(id=name))
    await session.flush()
    session.add(ApiToken(token_hash=hash_token(token), operator_id=name))
    await session.commit()
    return token


UNDONE = ("failed", "rejected", "cancelled")
"""Deployments whose configuration did not come into force."""


def _configuration(revision: Revision | None) -> OperatorConfiguration | None:
    return OperatorConfiguration.model_validate_json(revision.configuration_json) if revision else None


async def latest_configuration(session: AsyncSession, operator_id: str) -> OperatorConfiguration | None:
    """What the operator submitted last, whatever became of it (the configuration form starts from it)."""
    return _configuration(await Panel(session).latest_revision(operator_id))


async def current_configuration(session: AsyncSession, operator_id: str) -> OperatorConfiguration | None:
    """The configuration in force, which the home page shows and switching a service off starts from:
    the newest revision that did not fail, was not refused and was not cancelled (it succeeded, or is
    still on its way); the latest revision when none did."""
    panel = Panel(session)
    return _configuration(await panel.latest_revision(operator_id, skipping=UNDONE) or await panel.latest_revision(operator_id))


async def deployed_configuration(session: AsyncSession, operator_id: str, view: DeploymentView) -> OperatorConfiguration | None:
    """The configuration a deployment of the operator applied (a provider update applies the operator's revision too)."""
    return _configuration(await Panel(session).revision(operator_id, view.revision))


async def _refuse_if_removed(session: AsyncSession, operator_id: str) -> None:
    operator = await session.get(Operator, operator_id)
    if operator is None or operator.removal_requested_at is not None:
        raise RemovalRequested(f"operator {operator_id} asked to be removed")


def draft_digest(draft: Draft) -> str:
    return hashlib.sha256(draft.configuration_json.encode()).hexdigest()[:32]


async def save_draft(
    session: AsyncSession, operator_id: str, configuration: OperatorConfiguration, intent: str, going_back_from: str | None = None
) -> Draft:
    """Keeps a valid configuration for review (one per operator, the newest wins); `going_back_from`
    names the failed deployment it goes back from, if it does."""
    await _refuse_if_removed(session, operator_id)
    draft = await session.get(Draft, operator_id) or Draft(operator_id=operator_id)
    draft.configuration_json = configuration.model_dump_json(by_alias=True)
    draft.intent = intent
    draft.going_back_from = going_back_from
    draft.created_at = now()
    session.add(draft)
    await session.commit()
    return draft


def configuration_of(draft: Draft) -> OperatorConfiguration:
    return OperatorConfiguration.model_validate_json(draft.configuration_json)


@dataclass(frozen=True)
class Reviewed:
    """A draft whose plan the operator reviewed, taken for deploying."""

    configuration: OperatorConfiguration
    intent: str
    going_back_from: str | None


async def take_draft(session: AsyncSession, operator_id: str, reviewed_digest: str) -> Reviewed:
    """Takes the draft out of the drafts (with the session's commit), if it is still the one the
    operator reviewed; raises StaleDraft otherwise."""
    draft = await session.get(Draft, operator_id)
    if draft is None or not secrets.compare_digest(draft_digest(draft), reviewed_digest):
        raise StaleDraft("the configuration changed since its plan was shown; review it again")
    await session.delete(draft)
    return Reviewed(configuration_of(draft), draft.intent, draft.going_back_from)


async def submit(operator_id: str, configuration: OperatorConfiguration, uow: UnitOfWork) -> DeploymentView:
    """Stores the revision and its deployment, and queues config.submitted, in one transaction."""
    await _refuse_if_removed(uow.session, operator_id)
    panel = Panel(uow.session)
    number = await panel.next_revision(operator_id)
    deployment_id = str(uuid.uuid4())
    uow.session.add(
        Revision(
            operator_id=operator_id,
            number=number,
            configuration_json=configuration.model_dump_json(by_alias=True),
            deployment_id=deployment_id,
        )
    )
    view = DeploymentView(
        id=deployment_id,
        operator_id=operator_id,
        revision=number,
        state="submitted",
        steps_json="{}",
        changes_json="[]",
        problems_json="[]",
        urls_json="{}",
        done=0,
        total=0,
    )
    uow.session.add(view)
    uow.publish(
        ConfigSubmitted(
            correlation_id=deployment_id,
            operator_id=operator_id,
            producer=PRODUCER,
            revision=number,
            configuration=configuration.model_dump(mode="json", by_alias=True),
        )
    )
    await uow.commit()
    return view


async def request_removal(operator_id: str, reason: str, uow: UnitOfWork) -> None:
    """Marks the operator as leaving and asks the configurator to remove everything they run."""
    await _refuse_if_removed(uow.session, operator_id)
    operator = await uow.session.get(Operator, operator_id)
    operator.removal_requested_at = now()
    await Panel(uow.session).discard_draft(operator_id)
    uow.publish(
        OperatorRemovalRequested(
            correlation_id=str(uuid.uuid4()), operator_id=operator_id, producer=PRODUCER, reason=reason[:500]
        )
    )
    await uow.commit()
