"""Operators, their API tokens, and submitting a configuration revision."""

import hashlib
import re
import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.configuration import OperatorConfiguration
from contracts.events import ConfigSubmitted
from runtime.uow import UnitOfWork

from .adapters.store import ApiToken, DeploymentView, Operator, Panel, Revision

PRODUCER = "panel"
OPERATOR_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")


class OperatorExists(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_operator(session: AsyncSession, name: str) -> str:
    """Creates the operator and returns its API token (only its hash is stored)."""
    if not OPERATOR_NAME.match(name):
        raise ValueError(
            "operator names are 3 to 32 lowercase letters, digits and hyphens, starting with a letter"
        )
    if await session.get(Operator, name) is not None:
        raise OperatorExists(f"operator {name} already exists")
    token = f"fedi_{secrets.token_urlsafe(32)}"
    session.add(Operator(id=name))
    await session.flush()
    session.add(ApiToken(token_hash=hash_token(token), operator_id=name))
    await session.commit()
    return token


async def submit(operator_id: str, configuration: OperatorConfiguration, uow: UnitOfWork) -> DeploymentView:
    """Stores the revision and its deployment, and queues config.submitted, in one transaction."""
    panel = Panel(uow.session)
    number = await panel.next_revision(operator_id)
    deployment_id = str(uuid.uuid4())
    document = configuration.model_dump(mode="json", by_alias=True)
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
            configuration=document,
        )
    )
    await uow.commit()
    return view
