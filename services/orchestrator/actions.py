"""The orchestrator's local steps: VMs on Proxmox, records on PowerDNS, NixOS deployed onto a VM, and
the sweep of an operator's remaining VMs at the end of its removal. Each is idempotent and does its
side effects through the step's checkpoint."""

import asyncio
import copy
import hashlib
import json
from collections.abc import Awaitable, Callable

from contracts.events import DnsUpdated, NixosDeployed, VmDeleted, VmProvisioned, VmUpdated
from contracts.resources import DnsRecordSpec, VmSpec

from .adapters.deployer import DeployFailed, DeployRequest, NixosDeployer
from .commands import Refused
from .domain.plan import READER, account_purpose, kind_of, service_of
from .limits import Limits
from .steps import Outcome, StepContext
from .vms import VmProvider

SECRETS_DIR = "/run/fediversity/secrets"
DIRECTORY_BIND_SECRET = "ldap-bind-password"
"""The file every service's `ldap.bindPasswordFile` names: the password of the operator's directory reader."""

SecretReader = Callable[[str], Awaitable[str]]
Action = Callable[[StepContext], Awaitable[Outcome]]


class DeployError(RuntimeError):
    transient = False
    backend = "deployer"


class Actions:
    def __init__(
        self,
        vms: VmProvider,
        deployer: NixosDeployer,
        read_secret: SecretReader,
        ssh_public_key: str,
        dns=None,
        limits: Limits | None = None,
    ) -> None:
        self.vms = vms
        self.deployer = deployer
        self.read_secret = read_secret
        self.ssh_public_key = ssh_public_key
        self.dns = dns
        self.limits = limits or Limits({})

    def ensure(self) -> dict[str, Action]:
        return {"vm": self.vm, "nixos": self.nixos, "dns": self.record}

    def delete(self) -> dict[str, Action]:
        return {"vm": self.delete_vm, "nixos": self.forget_nixos, "dns": self.delete_record, "machines": self.sweep_vms}

    # -- VMs ---------------------------------------------------------------------------------------

    async def vm(self, ctx: StepContext) -> Outcome:
        spec = VmSpec.model_validate(ctx.spec)
        keys = [self.ssh_public_key, *(out["public_key"] for out in ctx.inputs_of("sshkey").values() if out.get("public_key"))]
        result = await self.vms.ensure(ctx, spec, keys)
        out = result.outputs
        step = {"deployment_id": ctx.deployment.id, "resource_id": ctx.resource_id}
        if result.created:
            old = result.replaced
            gone = (lambda envelope: VmUpdated(  # noqa: E731
                **envelope, **step, node=old["node"], vmid=old["vmid"], changed=("replaced: shut down, kept with its disk",)
            ),) if old else ()
            event = lambda envelope: VmProvisioned(  # noqa: E731
                **envelope, **step, node=out["node"], vmid=out["vmid"], name=out["name"], address=out["address"],
                cores=spec.cores, memory_mib=spec.memory_mib, disk_gib=spec.disk_gib,
            )
            replaced = f", replacing VM {old['vmid']} (shut down, kept with its disk)" if old else ""
            return Outcome(out, detail=f"VM {out['vmid']} running at {out['address']}{replaced}", events=(*gone, event))
        if result.changed:
            event = lambda envelope: VmUpdated(  # noqa: E731
                **envelope, **step, node=out["node"], vmid=out["vmid"], changed=result.changed, rebooted=result.rebooted
            )
            rebooted = ", rebooted" if result.rebooted else ""
            return Outcome(out, detail=f"VM {out['vmid']} updated ({', '.join(result.changed)}{rebooted})", events=(event,))
        return Outcome(out, detail=f"VM {out['vmid']} running at {out['address']}")

    async def delete_vm(self, ctx: StepContext) -> Outcome:
        """Its disk holds the service's database: destroyed only with the operator's "delete";
        with "keep" the VM is shut down and kept, and switching the service on again starts it."""
        name = (ctx.step.spec or {}).get("name") or (ctx.current or {}).get("name")
        if ctx.step.data not in ("keep", "delete"):
            raise Refused("the plan does not say whether to keep or delete this VM's disk (its database); nothing was deleted")
        step = {"deployment_id": ctx.deployment.id, "resource_id": ctx.resource_id}
        if ctx.step.data == "keep":
            vm = await self.vms.keep(ctx, name)
            if vm is None:
                return Outcome({}, detail="already gone")
            kept = {**(ctx.current or {}), "node": vm.node, "vmid": vm.vmid, "name": vm.name}
            event = lambda envelope: VmUpdated(**envelope, **step, node=vm.node, vmid=vm.vmid, changed=("shut down, disk kept",))  # noqa: E731
            return Outcome(kept, detail=f"VM {vm.vmid} shut down; its disk is kept", events=(event,), kept=True)
        vm = await self.vms.remove(ctx, name)
        if vm is None:
            return Outcome({}, detail="already gone")
        event = lambda envelope: VmDeleted(**envelope, **step, node=vm.node, vmid=vm.vmid)  # noqa: E731
        return Outcome({}, detail=f"VM {vm.vmid} destroyed", events=(event,))

    async def sweep_vms(self, ctx: StepContext) -> Outcome:
        """The end of an operator's removal: every VM still carrying its tag goes with its disks, and
        with them the records of VMs kept when their services were switched off."""
        swept = await self.vms.sweep(ctx, ctx.deployment.operator_id)
        step = {"deployment_id": ctx.deployment.id, "resource_id": ctx.resource_id}
        events = tuple(
            lambda envelope, vm=vm: VmDeleted(**envelope, **step, node=vm["node"], vmid=vm["vmid"]) for vm in swept
        )
        names = ", ".join(f"VM {vm['vmid']} ({vm['name']})" for vm in swept)
        detail = f"destroyed with their disks: {names}" if swept else "no other machine was left"
        return Outcome({}, detail=detail, events=events, swept="vm")

    # -- DNS ---------------------------------------------------------------------------------------

    def _contents(self, ctx: StepContext, spec: DnsRecordSpec) -> tuple[str, ...]:
        if spec.address_of:
            address = ctx.inputs.get(spec.address_of, {}).get("address")
            if not address:
                raise DeployError(f"no address known for {spec.address_of}")
            return (address,)
        return tuple(spec.content)

    async def record(self, ctx: StepContext) -> Outcome:
        spec = DnsRecordSpec.model_validate(ctx.spec)
        contents = self._contents(ctx, spec)
        outputs = {"zone": spec.zone, "name": spec.name, "type": spec.type, "ttl": spec.ttl, "content": list(contents)}
        if self.dns is None:
            return Outcome(outputs, detail=f"{spec.type} {spec.name} -> {', '.join(contents)} (no DNS provider configured)")
        async with self.limits.hold("dns"):
            await ctx.effect("dns.zone", lambda: self._dns(self.dns.ensure_zone, spec.zone))
            await ctx.effect("dns.replace", lambda: self._dns(self.dns.replace_rrset, spec.zone, spec.name, spec.type, spec.ttl, contents))
        event = lambda envelope: DnsUpdated(  # noqa: E731
            **envelope, deployment_id=ctx.deployment.id, resource_id=ctx.resource_id,
            name=spec.name, record_type=spec.type, content=contents,
        )
        return Outcome(outputs, detail=f"{spec.type} {spec.name} -> {', '.join(contents)}", events=(event,))

    async def delete_record(self, ctx: StepContext) -> Outcome:
        spec = ctx.step.spec or (ctx.current or {})
        if not spec.get("zone") or not spec.get("name"):
            return Outcome({}, detail="nothing recorded to delete")
        if self.dns is not None:
            async with self.limits.hold("dns"):
                await ctx.effect("dns.delete", lambda: self._dns(self.dns.delete_rrset, spec["zone"], spec["name"], spec["type"]))
        event = lambda envelope: DnsUpdated(  # noqa: E731
            **envelope, deployment_id=ctx.deployment.id, resource_id=ctx.resource_id,
            name=spec["name"], record_type=spec["type"], content=(),
        )
        return Outcome({}, detail=f"{spec['type']} {spec['name']} deleted", events=(event,))

    async def _dns(self, call, *args):
        return await asyncio.to_thread(call, *args)

    # -- NixOS -------------------------------------------------------------------------------------

    async def nixos(self, ctx: StepContext) -> Outcome:
        config, secret_refs = vm_configuration(ctx)
        vm = ctx.inputs[ctx.spec["vm"]]
        config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
        outputs = {"vm": vm["name"], "vmid": vm.get("vmid"), "address": vm["address"], "host_key": vm.get("host_key"),
                   "config_hash": config_hash}
        if ctx.current == outputs:  # the same configuration on the same machine
            return Outcome(outputs, detail="unchanged")
        secrets = {name: await self.read_secret(ref) for name, ref in secret_refs.items()}
        identity = next((out["secret_ref"] for out in ctx.inputs_of("sshkey").values() if out.get("secret_ref")), None)
        request = DeployRequest(
            vm["name"], vm["address"], config, secrets,
            host_key=vm.get("host_key"),
            ssh_private_key=await self.read_secret(identity) if identity else None,
        )
        try:
            async with self.limits.hold("deploy"):
                await ctx.effect(
                    "nixos.deploy", lambda: self.deployer.deploy(request, ctx.say, secrets_delivered=lambda: ctx.passed("nixos.secrets"))
                )
        except DeployFailed as exc:
            raise DeployError(exc.reason) from None
        event = lambda envelope: NixosDeployed(  # noqa: E731
            **envelope, deployment_id=ctx.deployment.id, resource_id=ctx.resource_id,
            vm_name=vm["name"], address=vm["address"], config_hash=config_hash,
        )
        return Outcome(outputs, detail=f"NixOS deployed on {vm['name']}", events=(event,))

    async def forget_nixos(self, ctx: StepContext) -> Outcome:
        """A configuration goes with its VM; nothing of its own to remove."""
        return Outcome({}, detail="removed with its VM")


def vm_configuration(ctx: StepContext) -> tuple[dict, dict[str, str]]:
    """The per-VM JSON with the run-time facts filled in, and the secret files it refers to."""
    config = copy.deepcopy(ctx.spec["config"])
    root = config["fediversity"]
    service = ctx.step.service
    section = root.get(service, {})
    secret_refs: dict[str, str] = {}
    for resource_id, outputs in sorted(ctx.inputs.items()):
        kind = ctx.kinds.get(resource_id, kind_of(resource_id))
        owner = service_of(resource_id) or service
        target = root.get(owner, section) if isinstance(root.get(owner), dict) else section
        if kind == "vm":
            root["vm"]["address"] = outputs["address"]
        elif kind == "bucket":
            name = f"{owner}-s3-secret"
            secret_refs[name] = outputs["secret_ref"]
            target["s3"] = {
                "bucket": outputs["bucket"],
                "endpoint": outputs["endpoint"],
                "region": outputs["region"],
                "accessKeyId": outputs["access_key_id"],
                "secretAccessKeyFile": f"{SECRETS_DIR}/{name}",
            }
        elif kind == "account" and account_purpose(resource_id) == READER:
            secret_refs[DIRECTORY_BIND_SECRET] = outputs["secret_ref"]
        elif kind == "account":
            name = f"{owner}-admin-password"
            secret_refs[name] = outputs["secret_ref"]
            target["admin"] = {
                "username": outputs["username"],
                "email": root["initialUser"]["email"],
                "passwordFile": f"{SECRETS_DIR}/{name}",
            }
        elif kind == "mail":
            name = f"{owner}-smtp-password"
            secret_refs[name] = outputs["secret_ref"]
            target["smtp"] = {**target.get("smtp", {}), "username": outputs["username"], "passwordFile": f"{SECRETS_DIR}/{name}"}
    return config, secret_refs
