"""What the panel asks other services over the bus: the configurator's plan preview and campaigns,
identity's secrets and its check of an operator's own directory, the stream's record of a
deployment, and the bus's own health. Each port has an in-memory fake in fakes.py."""

import json
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from contracts import subjects
from contracts.fleet import CampaignPreviewReply, CampaignPreviewRequest, CampaignStatusReply, CampaignStatusRequest
from contracts.directory import DirectoryParameters
from contracts.requests import (
    DirectoryConnectionReply,
    DirectoryConnectionRequest,
    PlanPreviewReply,
    PlanPreviewRequest,
    SecretReply,
    SecretRequest,
)
from runtime import logs
from runtime import dead_letters
from runtime.bus import Bus
from runtime.bus_health import BusHealth, bus_health
from runtime.event_chain import Stored, Traced, collect, stored

REQUESTER = "panel"
log = logs.get("panel")


class Unavailable(Exception):
    """The service that answers was not reachable or did not answer in time."""


class Planner(Protocol):
    async def preview(self, operator_id: str, configuration: dict[str, Any]) -> PlanPreviewReply:
        """What the configuration would create, change and remove; nothing is done."""


class Vault(Protocol):
    async def reveal(self, ref: str) -> str:
        """The value of a secret the panel may read (raises Unavailable)."""


class Directory(Protocol):
    """Identity's side of an operator's own LDAP directory. Never raises: when identity does not
    answer, the reply says so (not ok, no problem kind) and nothing was checked or kept."""

    async def check(self, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        """Can identity read the directory so? How many users and groups it found; nothing is kept."""

    async def connect(self, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        """The check, then identity keeps the connection (the password encrypted) and syncs it at once."""


NOT_ANSWERED = DirectoryConnectionReply(
    ok=False, error="identity did not answer, so your directory was not checked and nothing was saved; try again in a minute"
)


class Trail(Protocol):
    async def events(self, correlation_id: str) -> list[Traced]:
        """Every stored message of that deployment, in stream order."""


class Fleet(Protocol):
    async def preview(self, policy_changes: dict[str, Any]) -> CampaignPreviewReply:
        """What a policy change would do to every operator; nothing is done."""

    async def status(self, campaign_id: str | None = None, operator_id: str | None = None) -> CampaignStatusReply:
        """Campaigns (newest first) or one campaign with each operator's part (raises Unavailable)."""


@dataclass(frozen=True)
class DeadLetter:
    """A message a consumer gave up on, with whose it is (as far as it can be read: it may be malformed)."""

    sequence: int
    meant_for: str
    consumer: str
    reason: str
    operator_id: str = ""
    correlation_id: str = ""


class BusWatch(Protocol):
    async def health(self) -> BusHealth:
        """Each consumer's backlog and redeliveries, and how many dead letters wait (raises Unavailable)."""

    async def dead_letters(self) -> list[DeadLetter]:
        """The dead letters waiting, oldest first (raises Unavailable)."""


R = TypeVar("R", bound=BaseModel)


async def _ask(bus: Bus, subject: str, request: BaseModel, reply: type[R], timeout: float, what: str) -> R:
    try:
        return await bus.request(subject, request, reply, timeout=timeout)
    except Exception as exc:  # no responder, timeout, or an answer that is not the reply
        log.warning(f"{what} unavailable", error=type(exc).__name__)
        raise Unavailable(f"the {what} is not available right now") from None


class BusPlanner:
    def __init__(self, bus: Bus, timeout: float) -> None:
        self.bus, self.timeout = bus, timeout

    async def preview(self, operator_id: str, configuration: dict[str, Any]) -> PlanPreviewReply:
        request = PlanPreviewRequest(operator_id=operator_id, configuration=configuration)
        return await _ask(self.bus, subjects.PLAN_PREVIEW, request, PlanPreviewReply, self.timeout, "plan preview")


class BusFleet:
    def __init__(self, bus: Bus, timeout: float) -> None:
        self.bus, self.timeout = bus, timeout

    async def preview(self, policy_changes: dict[str, Any]) -> CampaignPreviewReply:
        request = CampaignPreviewRequest(policy_changes=policy_changes)
        return await _ask(self.bus, subjects.CAMPAIGN_PREVIEW, request, CampaignPreviewReply, self.timeout, "campaign preview")

    async def status(self, campaign_id: str | None = None, operator_id: str | None = None) -> CampaignStatusReply:
        request = CampaignStatusRequest(campaign_id=campaign_id, operator_id=operator_id)
        return await _ask(self.bus, subjects.CAMPAIGN_STATUS, request, CampaignStatusReply, self.timeout, "campaign status")


class NoFleet:
    """Where no configurator is wired in: campaigns cannot be previewed or looked up."""

    async def preview(self, policy_changes: dict[str, Any]) -> CampaignPreviewReply:
        raise Unavailable("the campaign preview is not available here")

    async def status(self, campaign_id: str | None = None, operator_id: str | None = None) -> CampaignStatusReply:
        raise Unavailable("the campaign status is not available here")


class BusDirectory:
    """Over request/reply only: the bind password is in the request body, never in the stream or a log."""

    def __init__(self, bus: Bus, timeout: float) -> None:
        self.bus, self.timeout = bus, timeout

    async def _ask(self, subject: str, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        request = DirectoryConnectionRequest(operator_id=operator_id, parameters=parameters, bind_password=bind_password)
        try:
            return await _ask(self.bus, subject, request, DirectoryConnectionReply, self.timeout, subject)
        except Unavailable:
            return NOT_ANSWERED

    async def check(self, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        return await self._ask(subjects.DIRECTORY_CHECK, operator_id, parameters, bind_password)

    async def connect(self, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        return await self._ask(subjects.DIRECTORY_CONNECT, operator_id, parameters, bind_password)


class NoDirectory:
    """Where no identity is wired in."""

    async def check(self, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        return NOT_ANSWERED

    async def connect(self, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        return NOT_ANSWERED


class IdentityVault:
    def __init__(self, bus: Bus, timeout: float = 5.0) -> None:
        self.bus, self.timeout = bus, timeout

    async def reveal(self, ref: str) -> str:
        owner = ref.removeprefix("secret://").split("/", 1)[0]
        try:
            reply = await self.bus.request(
                subjects.secret_get(owner), SecretRequest(ref=ref, requester=REQUESTER), SecretReply, timeout=self.timeout
            )
        except Exception as exc:
            log.warning("secret owner unavailable", owner=owner, error=type(exc).__name__)
            raise Unavailable(f"{owner} did not answer") from None
        if reply.value is None:
            log.warning("secret refused", owner=owner, reason=reply.error)
            raise Unavailable(reply.error or "no value")
        return reply.value


class StreamTrail:
    def __init__(self, nats_url: str, options: dict) -> None:
        self.nats_url, self.options = nats_url, options

    async def events(self, correlation_id: str) -> list[Traced]:
        try:
            return await collect(self.nats_url, correlation_id, self.options)
        except Exception as exc:
            log.warning("stream unreadable", error=type(exc).__name__)
            raise Unavailable("the event stream cannot be read right now") from None


def _parked(item: Stored) -> DeadLetter:
    try:
        body = json.loads(item.data)
    except ValueError:
        body = None
    whose = body if isinstance(body, dict) else {}
    return DeadLetter(
        item.sequence, item.subject.removeprefix(f"{subjects.DEAD_LETTER_PREFIX}."),
        consumer=item.headers.get(dead_letters.CONSUMER, "?"), reason=item.headers.get(dead_letters.REASON, "?"),
        operator_id=str(whose.get("operator_id", "")), correlation_id=str(whose.get("correlation_id", "")),
    )


class StreamWatch:
    """The bus's health through the panel's own connection (it may list the stream's consumers), and
    the dead letters read from the stream's dlq.> subjects."""

    def __init__(self, bus: Bus, nats_url: str, options: dict) -> None:
        self.bus, self.nats_url, self.options = bus, nats_url, options

    async def health(self) -> BusHealth:
        try:
            return await bus_health(self.bus.broker.connection.jetstream())
        except Exception as exc:
            log.warning("bus health unreadable", error=type(exc).__name__)
            raise Unavailable("the bus's health cannot be read right now") from None

    async def dead_letters(self) -> list[DeadLetter]:
        found: list[DeadLetter] = []
        try:
            async for item in stored(self.nats_url, subject=f"{subjects.DEAD_LETTER_PREFIX}.>", idle=0.5, options=self.options):
                found.append(_parked(item))
        except Exception as exc:
            log.warning("dead letters unreadable", error=type(exc).__name__)
            raise Unavailable("the dead letters cannot be read right now") from None
        return found


class NoBusWatch:
    """Where no bus is wired in."""

    async def health(self) -> BusHealth:
        raise Unavailable("the bus's health is not available here")

    async def dead_letters(self) -> list[DeadLetter]:
        raise Unavailable("the dead letters are not available here")
