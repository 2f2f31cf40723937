"""The orchestrator's composition root."""

import shlex
from functools import partial

from nats.errors import NoRespondersError

from contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountFailed,
    BucketCreated,
    BucketDeleted,
    BucketFailed,
    DirectoryRemoved,
    PlanCreated,
    SshKeyCreated,
    SshKeyDeleted,
    StorageRemoved,
)
from contracts.catalogue import WATCHED_DEAD_LETTERS
from contracts.requests import SecretReply, SecretRequest
from contracts.subjects import secret_get
from runtime.bus import Bus
from runtime.service import migrations_of, serve
from runtime.telemetry import Metrics
from runtime.uow import UnitsOfWork

from . import handlers
from .actions import Actions
from .adapters.deployer import DEFAULT_SECRETS_COMMAND, NixosDeployer
from .adapters.dns import PowerDns
from .adapters.proxmox import Proxmox
from .adapters.sshkeys import deploy_public_key
from .adapters.store import Base
from .crash import CrashPoints
from .executor import Executor
from .limits import Limits
from .retry import Backoff, BackendErrors
from .settings import Settings
from .vms import VmProvider


class SecretUnavailable(RuntimeError):
    transient = True

    def __init__(self, message: str, backend: str, kind: str) -> None:
        super().__init__(message)
        self.backend, self.kind = backend, kind


def secret_reader(bus: Bus):
    async def read(ref: str) -> str:
        owner = ref.removeprefix("secret://").split("/", 1)[0]
        try:
            reply = await bus.request(secret_get(owner), SecretRequest(ref=ref, requester="orchestrator"), SecretReply)
        except (TimeoutError, NoRespondersError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else "no_responders"
            raise SecretUnavailable(f"{owner} did not answer for {ref} ({kind})", owner, kind) from None
        if reply.value is None:
            raise SecretUnavailable(f"{owner} did not hand out {ref}: {reply.error}", owner, "secret_unavailable")
        return reply.value

    return read


def build_executor(settings: Settings, units: UnitsOfWork, read_secret, metrics: Metrics | None = None) -> Executor:
    """The executor with real adapters, as the service runs it (tests build it this way too);
    `metrics`: the service's registry its deployments, steps and backend errors are counted on."""
    metrics = metrics or Metrics("orchestrator")
    limits = Limits({"clone": settings.clone_limit_per_node, "deploy": settings.deploy_limit, "dns": settings.dns_limit}, settings.parallelism)
    backoff = Backoff(
        settings.retry_backoff_seconds, settings.retry_backoff_max_seconds, settings.transient_deadline_seconds,
        on_error=BackendErrors(metrics).record,
    )
    proxmox = Proxmox(
        settings.proxmox_host,
        settings.proxmox_port,
        settings.proxmox_token_id,
        settings.proxmox_token_secret,
        verify_ssl=settings.verify_ssl(),
        threads=settings.proxmox_threads,
        poll_interval=settings.proxmox_poll_seconds,
        task_timeout=settings.proxmox_task_timeout_seconds,
        backoff=backoff,
    )
    vms = VmProvider(
        proxmox,
        settings.nodes(),
        template_node=settings.proxmox_node,
        template_vmid=settings.proxmox_template_vmid,
        limits=limits,
        storage=settings.proxmox_storage,
        ipconfig=settings.proxmox_ipconfig,
        shutdown_timeout=settings.proxmox_shutdown_timeout_seconds,
        boot_timeout=settings.proxmox_task_timeout_seconds,
    )
    deployer = NixosDeployer(
        settings.data_dir / "deployments", command=shlex.split(settings.command()), timeout=settings.deploy_timeout_seconds,
        secrets_command=shlex.split(settings.secrets_command) or DEFAULT_SECRETS_COMMAND, tool=settings.deploy_tool,
    )
    dns = PowerDns(settings.dns_api_url, settings.dns_api_key, settings.dns_server_id) if settings.dns_api_url else None
    actions = Actions(vms, deployer, read_secret, deploy_public_key(settings.data_dir), dns, limits)
    executor = Executor(
        units,
        actions.ensure(),
        actions.delete(),
        limits=limits,
        attempts=settings.step_attempts,
        backoff=settings.retry_backoff_seconds,
        backoff_cap=settings.retry_backoff_max_seconds,
        deadline=settings.transient_deadline_seconds,
        command_timeout=settings.command_timeout_seconds,
        report_interval=settings.progress_interval_seconds,
        crash=CrashPoints(settings.crash_at, settings.crash_log),
        metrics=metrics,
    )
    return executor


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        executor = build_executor(settings, units, secret_reader(bus), bus.metrics)
        answered = {"wake": executor.wake, "typical": executor.typical}
        failing = {**answered, "errors": executor.errors}
        bus.on(PlanCreated, partial(handlers.accept_plan, wake=executor.wake))
        for created in (BucketCreated, AccountCreated, SshKeyCreated):
            bus.on(created, partial(handlers.record_created, **answered))
        for deleted in (BucketDeleted, AccountDeleted, SshKeyDeleted):
            bus.on(deleted, partial(handlers.record_deleted, **answered))
        bus.on(DirectoryRemoved, partial(handlers.record_directory_removed, **answered))
        for failed in (BucketFailed, AccountFailed):
            bus.on(failed, partial(handlers.record_failed, **failing))
        bus.on(StorageRemoved, partial(handlers.record_storage_removed, **failing))
        for command in WATCHED_DEAD_LETTERS["orchestrator"]:
            bus.on_dead_letter(command, partial(handlers.record_given_up, **failing))
        return [executor.run()]

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
