"""In-memory stand-ins for the panel's bus ports and its audit log, for tests without a bus."""

import json
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from contracts.configuration import SERVICES
from contracts.directory import DirectoryParameters
from contracts.fleet import CampaignPreviewReply, CampaignStatus, CampaignStatusReply
from contracts.requests import DirectoryConnectionReply, PlanPreviewReply
from contracts.resources import Change, Problem
from runtime.audit import AuditRecord
from runtime.bus_health import BusHealth
from runtime.event_chain import Traced

from .audit import SHOWN, entry
from .bus import NOT_ANSWERED, DeadLetter, Unavailable
from .mail import MailFailed


class FakePlanner:
    """Plans like the configurator in outline: creates for enabled services, and for services that
    were enabled in `applied` and are now off, deletes that keep or delete data as chosen."""

    def __init__(self, applied: dict[str, Any] | None = None, problems: tuple[Problem, ...] = ()) -> None:
        self.applied = applied or {}
        self.problems = problems
        self.asked: list[tuple[str, dict]] = []
        self.available = True

    async def preview(self, operator_id: str, configuration: dict[str, Any]) -> PlanPreviewReply:
        self.asked.append((operator_id, configuration))
        if not self.available:
            raise Unavailable("the plan preview is not available right now")
        if self.problems:
            return PlanPreviewReply(problems=self.problems)
        changes = []
        for service in SERVICES:
            now_on = configuration.get(service, {}).get("enable", False)
            was_on = self.applied.get(service, {}).get("enable", False)
            rid = lambda kind: f"{operator_id}/{service}/{kind}"  # noqa: E731
            if now_on and not was_on:
                changes += [Change(resource_id=rid(k), action="create", kind=k, service=service) for k in ("vm", "bucket", "account", "nixos")]
            elif was_on and not now_on:
                data = configuration.get(service, {}).get("dataOnDisable", "keep")
                changes += [Change(resource_id=rid(k), action="delete", kind=k, service=service) for k in ("vm", "account", "nixos")]
                changes.append(Change(resource_id=rid("bucket"), action="delete", kind="bucket", service=service, data=data))
            elif now_on:
                changes += [Change(resource_id=rid(k), action="unchanged", kind=k, service=service) for k in ("vm", "nixos")]
        return PlanPreviewReply(changes=tuple(changes))


class FakeVault:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})
        self.asked: list[str] = []

    async def reveal(self, ref: str) -> str:
        self.asked.append(ref)
        if ref not in self.values:
            raise Unavailable("no such secret")
        return self.values[ref]


class FakeDirectory:
    """Answers like identity for one directory of the operator's: the right password reaches its
    users and groups, another is refused. `asked` keeps (subject, operator, parameters) and no password;
    `connected` what identity would keep."""

    REFUSED = "the directory refused the bind DN and password: check both"

    def __init__(self, password: str = "their-directory-password", users: int = 2, groups: int = 2) -> None:
        self.password, self.users, self.groups = password, users, groups
        self.asked: list[tuple[str, str, DirectoryParameters]] = []
        self.connected: dict[str, DirectoryParameters] = {}
        self.available = True

    def _answer(self, subject: str, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        self.asked.append((subject, operator_id, parameters))
        if not self.available:
            return NOT_ANSWERED
        if bind_password != self.password:
            return DirectoryConnectionReply(ok=False, problem="bad_credentials", error=self.REFUSED)
        return DirectoryConnectionReply(ok=True, users=self.users, groups=self.groups)

    async def check(self, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        return self._answer("directory.check", operator_id, parameters, bind_password)

    async def connect(self, operator_id: str, parameters: DirectoryParameters, bind_password: str) -> DirectoryConnectionReply:
        reply = self._answer("directory.connect", operator_id, parameters, bind_password)
        if reply.ok:
            self.connected[operator_id] = parameters
        return reply


class FakeTrail:
    def __init__(self, events: list[Traced] | None = None) -> None:
        self.stored = list(events or [])

    async def events(self, correlation_id: str) -> list[Traced]:
        return [event for event in self.stored if event.message.correlation_id == correlation_id]


class FakeFleet:
    """Answers like the configurator from what a test put in: a preview per policy change, campaigns."""

    def __init__(self) -> None:
        self.previews: dict[str, CampaignPreviewReply] = {}
        self.campaigns: list[CampaignStatus] = []
        self.asked: list[tuple[str, Any]] = []
        self.available = True

    def _answerable(self, what: str, question: Any) -> None:
        self.asked.append((what, question))
        if not self.available:
            raise Unavailable(f"the campaign {what} is not available right now")

    async def preview(self, policy_changes: dict[str, Any]) -> CampaignPreviewReply:
        self._answerable("preview", policy_changes)
        return self.previews.get(json.dumps(policy_changes, sort_keys=True), CampaignPreviewReply())

    async def status(self, campaign_id: str | None = None, operator_id: str | None = None) -> CampaignStatusReply:
        self._answerable("status", (campaign_id, operator_id))
        found = [c for c in self.campaigns if campaign_id in (None, c.campaign_id)]
        if campaign_id is None and operator_id is None:
            found = [c.model_copy(update={"operators": ()}) for c in found]
        if operator_id is not None:
            found = [c.model_copy(update={"operators": tuple(o for o in c.operators if o.operator_id == operator_id)}) for c in found]
            found = [c for c in found if c.operators]
        return CampaignStatusReply(campaigns=tuple(found))


class FakeBusWatch:
    """The bus's health and dead letters as a test sets them."""

    def __init__(self) -> None:
        self.state = BusHealth(0, (), 0)
        self.letters: list[DeadLetter] = []
        self.available = True

    async def health(self) -> BusHealth:
        if not self.available:
            raise Unavailable("the bus's health cannot be read right now")
        return BusHealth(self.state.stored_messages, self.state.consumers, len(self.letters))

    async def dead_letters(self) -> list[DeadLetter]:
        return list(self.letters)


class FakeAuditor:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self.available = True

    async def record(self, actor: str, action: str, target: str, outcome: str = "ok", **details: str) -> None:
        self.records.append(entry(actor, action, target, outcome, details))

    async def newest(self, actor: str | None = None, action: str | None = None, limit: int = SHOWN, since: datetime | None = None) -> list[AuditRecord]:
        if not self.available:
            raise Unavailable("the audit log cannot be read right now")
        found = [r for r in self.records if actor in (None, r.actor) and r.action.startswith(action or "") and (since is None or r.at >= since)]
        return found[::-1][:limit]


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failing = False

    async def send(self, message: EmailMessage) -> None:
        if self.failing:
            raise MailFailed("the mail server could not be used (ConnectionRefusedError)")
        self.sent.append(message)
