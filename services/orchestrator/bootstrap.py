"""The orchestrator's composition root."""

import shlex
from functools import partial

from contracts.events import (
    AccountCreated,
    AccountDeleted,
    AccountFailed,
    BucketCreated,
    BucketDeleted,
    BucketFailed,
    PlanCreated,
    SshKeyCreated,
    SshKeyDeleted,
)
from contracts.requests import SecretReply, SecretRequest
from contracts.subjects import secret_get
from runtime.bus import Bus
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from . import handlers
from .actions import Actions
from .adapters.deployer import NixosDeployer
from .adapters.dns import PowerDns
from .adapters.proxmox import Proxmox
from .adapters.sshkeys import deploy_public_key
from .adapters.store import Base
from .crash import CrashPoints
from .executor import Executor
from .limits import Limits
from .retry import Backoff
from .settings import Settings
from .vms import VmProvider


class SecretUnavailable(RuntimeError):
    transient = True


def secret_reader(bus: Bus):
    async def read(ref: str) -> str:
        owner = ref.removeprefix("secret://").split("/", 1)[0]
        reply = await bus.request(secret_get(owner), SecretRequest(ref=ref, requester="orchestrator"), SecretReply)
        if reply.value is None:
            raise SecretUnavailable(f"{owner} did not hand out {ref}: {reply.error}")
        return reply.value

    return read


def build_executor(settings: Settings, units: UnitsOfWork, read_secret) -> Executor:
    """The executor with real adapters, as the service runs it (tests build it this way too)."""
    limits = Limits({"clone": settings.clone_limit_per_node, "deploy": settings.deploy_limit, "dns": settings.dns_limit})
    backoff = Backoff(settings.retry_backoff_seconds, settings.retry_backoff_max_seconds, settings.transient_deadline_seconds)
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
        settings.data_dir / "deployments", command=shlex.split(settings.command()), timeout=settings.deploy_timeout_seconds
    )
    dns = PowerDns(settings.dns_api_url, settings.dns_api_key, settings.dns_server_id) if settings.dns_api_url else None
    actions = Actions(vms, deployer, read_secret, deploy_public_key(settings.data_dir), dns, limits)
    executor = Executor(
        units,
        actions.ensure(),
        actions.delete(),
        parallelism=settings.parallelism,
        attempts=settings.step_attempts,
        backoff=settings.retry_backoff_seconds,
        backoff_cap=settings.retry_backoff_max_seconds,
        deadline=settings.transient_deadline_seconds,
        command_timeout=settings.command_timeout_seconds,
        report_interval=settings.progress_interval_seconds,
        crash=CrashPoints(settings.crash_at, settings.crash_log),
    )
    return executor


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        executor = build_executor(settings, units, secret_reader(bus))
        bus.on(PlanCreated, partial(handlers.accept_plan, wake=executor.wake))
        for created in (BucketCreated, AccountCreated, SshKeyCreated):
            bus.on(created, partial(handlers.record_created, wake=executor.wake))
        for deleted in (BucketDeleted, AccountDeleted, SshKeyDeleted):
            bus.on(deleted, partial(handlers.record_deleted, wake=executor.wake))
        for failed in (BucketFailed, AccountFailed):
            bus.on(failed, partial(handlers.record_failed, wake=executor.wake))
        return [executor.run()]

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
