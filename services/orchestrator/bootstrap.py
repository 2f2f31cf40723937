"""The orchestrator's composition root."""

import shlex
from functools import partial

from contracts.events import AccountCreated, AccountFailed, BucketCreated, BucketFailed, PlanCreated
from contracts.requests import SecretReply, SecretRequest
from contracts.subjects import secret_get
from runtime.bus import Bus
from runtime.service import migrations_of, serve
from runtime.uow import UnitsOfWork

from . import handlers
from .actions import Actions
from .adapters.deployer import NixosDeployer
from .adapters.proxmox import ProxmoxVMs
from .adapters.sshkeys import deploy_public_key
from .adapters.store import Base
from .executor import Executor
from .settings import Settings


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


def wiring(settings: Settings):
    async def wire(bus: Bus, units: UnitsOfWork) -> list:
        proxmox = ProxmoxVMs(
            settings.proxmox_host,
            settings.proxmox_port,
            settings.proxmox_token_id,
            settings.proxmox_token_secret,
            node=settings.proxmox_node,
            template_vmid=settings.proxmox_template_vmid,
            verify_ssl=settings.verify_ssl(),
            task_timeout=settings.proxmox_task_timeout_seconds,
            poll_interval=settings.proxmox_poll_seconds,
        )
        deployer = NixosDeployer(
            settings.data_dir / "deployments",
            command=shlex.split(settings.deploy_command),
            timeout=settings.deploy_timeout_seconds,
        )
        actions = Actions(proxmox, deployer, secret_reader(bus), deploy_public_key(settings.data_dir))
        executor = Executor(
            units,
            actions.table(),
            parallelism=settings.parallelism,
            attempts=settings.step_attempts,
            backoff=settings.retry_backoff_seconds,
        )
        bus.on(PlanCreated, partial(handlers.accept_plan, wake=executor.wake))
        for created in (BucketCreated, AccountCreated):
            bus.on(created, partial(handlers.record_created, wake=executor.wake))
        for failed in (BucketFailed, AccountFailed):
            bus.on(failed, partial(handlers.record_failed, wake=executor.wake))
        return [executor.run()]

    return wire


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    await serve(settings, Base.metadata, migrations_of(__file__), wiring(settings))
