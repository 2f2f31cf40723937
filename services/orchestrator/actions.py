"""The orchestrator's local steps: a VM on Proxmox, and NixOS deployed onto it."""

import asyncio
import copy
import hashlib
import json
from collections.abc import Awaitable, Callable

from contracts.events import NixosDeployed, VmProvisioned
from contracts.resources import VmSpec

from .adapters.deployer import DeployFailed, DeployRequest, NixosDeployer
from .adapters.proxmox import ProxmoxVMs
from .executor import Outcome, Work

SECRETS_DIR = "/run/fediversity/secrets"

SecretReader = Callable[[str], Awaitable[str]]


class Actions:
    def __init__(self, proxmox: ProxmoxVMs, deployer: NixosDeployer, read_secret: SecretReader, ssh_public_key: str) -> None:
        self.proxmox = proxmox
        self.deployer = deployer
        self.read_secret = read_secret
        self.ssh_public_key = ssh_public_key

    def table(self) -> dict:
        return {"vm": self.vm, "nixos": self.nixos}

    async def vm(self, work: Work) -> Outcome:
        spec = VmSpec.model_validate(work.step.spec)
        facts = await asyncio.to_thread(self.proxmox.ensure_vm, spec, self.ssh_public_key)
        outputs = {"node": facts.node, "vmid": facts.vmid, "address": facts.address, "name": spec.name}
        event = lambda envelope: VmProvisioned(  # noqa: E731
            **envelope,
            deployment_id=work.deployment.id,
            resource_id=work.step.resource_id,
            cores=spec.cores,
            memory_mib=spec.memory_mib,
            disk_gib=spec.disk_gib,
            **outputs,
        )
        return Outcome(outputs, detail=f"VM {facts.vmid} running at {facts.address}", events=(event,))

    async def nixos(self, work: Work) -> Outcome:
        config, secret_refs = vm_configuration(work)
        vm = work.inputs[work.step.spec["vm"]]
        config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
        outputs = {"vm": vm["name"], "address": vm["address"], "config_hash": config_hash}
        if work.current and work.current.get("config_hash") == config_hash:
            return Outcome(outputs, detail="unchanged")
        secrets = {name: await self.read_secret(ref) for name, ref in secret_refs.items()}
        try:
            await self.deployer.deploy(DeployRequest(vm["name"], vm["address"], config, secrets))
        except DeployFailed as exc:
            raise DeployError(exc.reason) from None
        event = lambda envelope: NixosDeployed(  # noqa: E731
            **envelope,
            deployment_id=work.deployment.id,
            resource_id=work.step.resource_id,
            vm_name=vm["name"],
            address=vm["address"],
            config_hash=config_hash,
        )
        return Outcome(outputs, detail=f"NixOS deployed on {vm['name']}", events=(event,))


class DeployError(RuntimeError):
    transient = False


def vm_configuration(work: Work) -> tuple[dict, dict[str, str]]:
    """The per-VM JSON with the run-time facts filled in, and the secret files it refers to."""
    config = copy.deepcopy(work.step.spec["config"])
    root = config["fediversity"]
    service = work.step.service
    section = root[service]
    secret_refs: dict[str, str] = {}
    for resource_id, outputs in work.inputs.items():
        kind = resource_id.rsplit("/", 1)[-1]
        if kind == "vm":
            root["vm"]["address"] = outputs["address"]
        elif kind == "bucket":
            name = f"{service}-s3-secret"
            secret_refs[name] = outputs["secret_ref"]
            section["s3"] = {
                "bucket": outputs["bucket"],
                "endpoint": outputs["endpoint"],
                "region": outputs["region"],
                "accessKeyId": outputs["access_key_id"],
                "secretAccessKeyFile": f"{SECRETS_DIR}/{name}",
            }
        elif kind == "account":
            name = f"{service}-admin-password"
            secret_refs[name] = outputs["secret_ref"]
            section["admin"] = {
                "username": outputs["username"],
                "email": root["initialUser"]["email"],
                "passwordFile": f"{SECRETS_DIR}/{name}",
            }
    return config, secret_refs
