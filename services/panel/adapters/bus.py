"""What the panel asks other services over the bus: the configurator's plan preview, identity's
secrets, and the stream's record of a deployment. Each port has an in-memory fake in fakes.py."""

from typing import Any, Protocol

from contracts import subjects
from contracts.requests import PlanPreviewReply, PlanPreviewRequest, SecretReply, SecretRequest
from runtime import logs
from runtime.bus import Bus
from runtime.event_chain import Traced, collect

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


class Trail(Protocol):
    async def events(self, correlation_id: str) -> list[Traced]:
        """Every stored message of that deployment, in stream order."""


class BusPlanner:
    def __init__(self, bus: Bus, timeout: float) -> None:
        self.bus, self.timeout = bus, timeout

    async def preview(self, operator_id: str, configuration: dict[str, Any]) -> PlanPreviewReply:
        request = PlanPreviewRequest(operator_id=operator_id, configuration=configuration)
        try:
            return await self.bus.request(subjects.PLAN_PREVIEW, request, PlanPreviewReply, timeout=self.timeout)
        except Exception as exc:  # no responder, timeout, or an answer that is not a plan
            log.warning("plan preview unavailable", error=type(exc).__name__)
            raise Unavailable("the plan preview is not available right now") from None


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
