"""Who produces and who consumes each message: the one table the stream, the AsyncAPI document
and (later) the bus permissions are generated from."""

from dataclasses import dataclass

from . import commands, events, fleet
from .envelope import Message
from .subjects import dead_letter


@dataclass(frozen=True)
class Entry:
    model: type[Message]
    producer: str
    consumers: tuple[str, ...]

    @property
    def subject(self) -> str:
        return self.model.subject()


SERVICES = ("panel", "configurator", "orchestrator", "storage", "identity")

CATALOGUE: tuple[Entry, ...] = (
    Entry(events.ConfigSubmitted, "panel", ("configurator",)),
    Entry(events.ConfigRejected, "configurator", ("panel",)),
    Entry(events.PlanCreated, "configurator", ("orchestrator", "panel")),
    Entry(events.DeploymentStarted, "orchestrator", ("panel",)),
    Entry(events.DeploymentProgress, "orchestrator", ("panel",)),
    Entry(events.DeploymentSucceeded, "orchestrator", ("panel", "configurator")),
    Entry(events.DeploymentFailed, "orchestrator", ("panel", "configurator")),
    Entry(events.VmProvisioned, "orchestrator", ()),  # for operations (fedi trace, events tail)
    Entry(commands.BucketRequested, "orchestrator", ("storage",)),
    Entry(events.BucketCreated, "storage", ("orchestrator",)),
    Entry(events.BucketFailed, "storage", ("orchestrator",)),
    Entry(commands.AccountRequested, "orchestrator", ("identity",)),
    Entry(events.AccountCreated, "identity", ("orchestrator", "panel")),
    Entry(events.AccountFailed, "identity", ("orchestrator",)),
    Entry(events.NixosDeployed, "orchestrator", ()),
    Entry(events.VmUpdated, "orchestrator", ()),
    Entry(events.VmDeleted, "orchestrator", ()),
    Entry(events.DnsUpdated, "orchestrator", ()),
    Entry(events.DeploymentCancelled, "orchestrator", ("panel", "configurator")),
    Entry(commands.BucketDeletionRequested, "orchestrator", ("storage",)),
    Entry(events.BucketDeleted, "storage", ("orchestrator",)),
    Entry(events.BucketUsageReported, "storage", ("panel",)),
    Entry(commands.AccountDeletionRequested, "orchestrator", ("identity",)),
    Entry(events.AccountDeleted, "identity", ("orchestrator",)),
    Entry(commands.SshKeyRequested, "orchestrator", ("identity",)),
    Entry(events.SshKeyCreated, "identity", ("orchestrator",)),
    Entry(commands.SshKeyDeletionRequested, "orchestrator", ("identity",)),
    Entry(events.SshKeyDeleted, "identity", ("orchestrator",)),
    Entry(commands.OperatorRemovalRequested, "panel", ("configurator",)),
    Entry(events.DirectoryConnected, "identity", ("panel",)),
    Entry(commands.DirectorySyncRequested, "panel", ("identity",)),
    Entry(events.DirectorySyncCompleted, "identity", ("panel",)),
    Entry(events.DirectorySyncFailed, "identity", ("panel",)),
    Entry(commands.DirectoryRemovalRequested, "orchestrator", ("identity",)),
    Entry(events.DirectoryRemoved, "identity", ("orchestrator", "panel")),
    Entry(commands.StorageRemovalRequested, "orchestrator", ("storage",)),
    Entry(events.StorageRemoved, "storage", ("orchestrator", "panel")),
    Entry(fleet.CampaignRequested, "panel", ("configurator",)),
    Entry(fleet.CampaignControlRequested, "panel", ("configurator",)),
    Entry(fleet.MaintenanceWindowChosen, "panel", ("configurator",)),
    Entry(fleet.CampaignScheduled, "configurator", ("panel",)),
    Entry(fleet.CampaignRefused, "configurator", ("panel",)),
    Entry(fleet.CampaignOperatorNotified, "configurator", ("panel",)),
    Entry(fleet.CampaignChoiceRefused, "configurator", ("panel",)),
    Entry(fleet.CampaignOperatorStarted, "configurator", ("panel",)),
    Entry(fleet.CampaignOperatorCompleted, "configurator", ("panel",)),
    Entry(fleet.CampaignOperatorFailed, "configurator", ("panel",)),
    Entry(fleet.CampaignOperatorRolledBack, "configurator", ("panel",)),
    Entry(fleet.CampaignWaveStarted, "configurator", ("panel",)),
    Entry(fleet.CampaignStateChanged, "configurator", ("panel",)),
)

BY_TYPE: dict[str, type[Message]] = {entry.subject: entry.model for entry in CATALOGUE}


@dataclass(frozen=True)
class Request:
    """A core NATS request/reply subject: who answers it and who may ask."""

    subject: str
    responder: str
    requesters: tuple[str, ...]


def _requests() -> tuple[Request, ...]:
    from .subjects import CAMPAIGN_PREVIEW, CAMPAIGN_STATUS, DIRECTORY_CHECK, DIRECTORY_CONNECT, PLAN_PREVIEW, secret_get

    return (
        Request(PLAN_PREVIEW, "configurator", ("panel",)),
        Request(secret_get("storage"), "storage", ("orchestrator",)),
        Request(secret_get("identity"), "identity", ("orchestrator", "panel")),
        Request(DIRECTORY_CHECK, "identity", ("panel",)),
        Request(DIRECTORY_CONNECT, "identity", ("panel",)),
        Request(CAMPAIGN_PREVIEW, "configurator", ("panel",)),
        Request(CAMPAIGN_STATUS, "configurator", ("panel",)),
    )


REQUESTS: tuple[Request, ...] = _requests()


WATCHED_DEAD_LETTERS: dict[str, tuple[type[Message], ...]] = {
    "orchestrator": (
        commands.BucketRequested, commands.BucketDeletionRequested, commands.AccountRequested, commands.AccountDeletionRequested,
        commands.SshKeyRequested, commands.SshKeyDeletionRequested, commands.DirectoryRemovalRequested, commands.StorageRemovalRequested,
    ),
}
"""Commands whose sender waits for an answer, and so hears (on `dlq.<subject>`) when the service that
owns them gave up on one: the step waiting for it fails at once, with why."""


def owner_of(command: type[Message]) -> str:
    """The service a command is sent to: its one consumer."""
    return next(entry.consumers[0] for entry in CATALOGUE if entry.model is command)


def watched_dead_letters(service: str) -> list[str]:
    return [dead_letter(model.subject()) for model in WATCHED_DEAD_LETTERS.get(service, ())]


def durable_name(service: str, subject: str) -> str:
    """The durable consumer through which `service` reads `subject`."""
    return f"{service}-{subject.replace('.', '-')}"


def stream_subjects() -> list[str]:
    """Subjects the stream stores: every catalogued message and the dead letters (never request/reply)."""
    from .subjects import DEAD_LETTER_PREFIX

    return [entry.subject for entry in CATALOGUE] + [f"{DEAD_LETTER_PREFIX}.>"]


def consumed_by(service: str) -> list[Entry]:
    return [entry for entry in CATALOGUE if service in entry.consumers]


def produced_by(service: str) -> list[Entry]:
    return [entry for entry in CATALOGUE if entry.producer == service]
