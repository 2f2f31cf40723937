"""High-level configuration -> every granular resource it needs (US 7.2).

Pure functions: no I/O. Same input, same plan, in the same order: the operator's SSH deploy key and
directory reader, then per VM the VM, each of its services' bucket, admin account, mail relay
account and address record, then the VM's NixOS; then the operator's mail records.
"""

from collections.abc import Sequence

from pydantic import ValidationError

from contracts.configuration import OperatorConfiguration, problems_of
from contracts.resources import (
    AccountResource,
    AccountSpec,
    BucketResource,
    BucketSpec,
    DnsRecordSpec,
    DnsResource,
    MailAccountResource,
    MailAccountSpec,
    NixosResource,
    NixosSpec,
    Problem,
    Resource,
    SshKeyResource,
    SshKeySpec,
    VmResource,
    VmSpec,
)

from .naming import (
    OPERATOR_WIDE,
    READER,
    bucket_name,
    deploy_key_name,
    host_name,
    relay_username,
    resource_id,
    sender_address,
    vm_name,
)
from .nixos import vm_json
from .policy import Policy

GIB = 1024**3


class InvalidConfiguration(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = tuple(problems)


def validate(document: dict) -> OperatorConfiguration:
    try:
        return OperatorConfiguration.model_validate(document)
    except ValidationError as exc:
        raise InvalidConfiguration([Problem(**problem) for problem in problems_of(exc)]) from None


def placement(config: OperatorConfiguration, policy: Policy) -> list[tuple[str, tuple[str, ...]]]:
    """(VM's service part, services it runs): one VM per service, or one `_` VM for all."""
    enabled = config.enabled_services()
    if policy.placement == "combined":
        return [(OPERATOR_WIDE, enabled)]
    return [(service, (service,)) for service in enabled]


def plan_resources(operator: str, config: OperatorConfiguration, policy: Policy) -> list[Resource]:
    rid = lambda service, kind, role=None: resource_id(operator, service, kind, role)  # noqa: E731
    resources: list[Resource] = []
    key: tuple[str, ...] = ()
    if policy.ssh_keys.enabled:
        resources.append(
            SshKeyResource(id=rid(OPERATOR_WIDE, "sshkey"), service=OPERATOR_WIDE, spec=SshKeySpec(name=deploy_key_name(operator, policy.ssh_keys.generation)))
        )
        key = (resources[-1].id,)
    reader = _directory_reader(operator, config, policy)
    resources.extend(reader)
    for group, services in placement(config, policy):
        vm = VmResource(id=rid(group, "vm"), service=group, depends_on=key, spec=_vm_spec(operator, group, services, policy))
        resources.append(vm)
        needs = [vm.id, *key, *(r.id for r in reader)]
        machine = _machine_record(operator, config, policy, vm) if group == OPERATOR_WIDE else None
        if machine is not None:
            resources.append(machine)
        for service in services:
            for resource in _service_resources(operator, service, config, policy, vm, machine):
                resources.append(resource)
                needs.append(resource.id)
        resources.append(
            NixosResource(
                id=rid(group, "nixos"),
                service=group,
                depends_on=tuple(needs),
                spec=NixosSpec(vm=vm.id, config=vm_json(operator, config, policy, vm.spec, services)),
            )
        )
    resources.extend(_mail_records(operator, config, policy))
    return _after_assigned_buckets(resources)


def _after_assigned_buckets(resources: list[Resource]) -> list[Resource]:
    """A bucket the provider assigned is checked with its key first (the key may be wrong): nothing
    of its service (nor the shared VM it runs on) is made before that check has passed."""
    checks = {r.service: r.id for r in resources if r.kind == "bucket" and r.spec.preconfigured}
    if not checks:
        return resources

    def waits_for(r: Resource) -> tuple[str, ...]:
        if r.service == OPERATOR_WIDE and r.kind in ("vm", "nixos"):
            return tuple(checks.values())
        return (checks[r.service],) if r.service in checks and r.id != checks[r.service] else ()

    return [r.model_copy(update={"depends_on": tuple(dict.fromkeys((*r.depends_on, *waits_for(r))))}) if waits_for(r) else r
            for r in resources]


def _directory_reader(operator: str, config: OperatorConfiguration, policy: Policy) -> list[Resource]:
    """With the provider's directory on, the read-only account (cn=reader,ou=<operator>) every VM of
    the operator binds as to sign its users in: one per operator, its password only a secret file."""
    if not (policy.directory.enabled and config.enabled_services()):
        return []
    spec = AccountSpec(username=READER, email="", display_name=f"Directory reader of {operator}'s services")
    return [AccountResource(id=resource_id(operator, OPERATOR_WIDE, "account", READER), service=OPERATOR_WIDE, spec=spec)]


def _vm_spec(operator: str, group: str, services: tuple[str, ...], policy: Policy) -> VmSpec:
    sizes = [getattr(policy.sizes, service) for service in services]
    name = vm_name(operator, group)
    node = policy.node_for(name)
    return VmSpec(
        name=name,
        cores=sum(size.cores for size in sizes),
        memory_mib=sum(size.memory_mib for size in sizes),
        disk_gib=sum(size.disk_gib for size in sizes),
        tags=("fedi", f"fedi-op-{operator}", *(f"fedi-svc-{service}" for service in services)),
        node=node.name if node else None,
        template=policy.proxmox.template,
        storage=policy.proxmox.storage,
        ip_pool=node.ip_pool if node else None,
    )


def _address_record(policy: Policy, vm: VmResource, zone: str, name: str) -> DnsRecordSpec:
    pool = policy.ip_pools.get(vm.spec.ip_pool) if vm.spec.ip_pool else None
    return DnsRecordSpec(zone=zone, name=name, type=pool.record_type if pool else "A", ttl=policy.dns.ttl, address_of=vm.id)


def _machine_record(operator: str, config: OperatorConfiguration, policy: Policy, vm: VmResource) -> DnsResource | None:
    """The shared VM's own name (<vm>.<domain>): its services' host names are CNAMEs of it, so a new
    address changes one record."""
    if not policy.dns.enabled:
        return None
    name = f"{vm.spec.name}.{config.domain}."
    return DnsResource(
        id=resource_id(operator, OPERATOR_WIDE, "dns", "machine"), service=OPERATOR_WIDE, depends_on=(vm.id,),
        spec=_address_record(policy, vm, policy.zone_for(config.domain), name),
    )


def _service_resources(
    operator: str, service: str, config: OperatorConfiguration, policy: Policy, vm: VmResource, machine: DnsResource | None = None,
) -> list[Resource]:
    rid = lambda kind, role=None: resource_id(operator, service, kind, role)  # noqa: E731
    user = config.initial_user
    resources: list[Resource] = []
    assigned = policy.preconfigured_bucket(operator, service)
    quota = getattr(policy.bucket_quota_gib, service)
    if assigned or quota is not None:
        spec = BucketSpec(
            name=assigned or bucket_name(operator, service),
            quota_bytes=quota * GIB if quota is not None else None,
            preconfigured=assigned is not None,
        )
        resources.append(BucketResource(id=rid("bucket"), service=service, spec=spec))
    resources.append(
        AccountResource(
            id=rid("account"),
            service=service,
            spec=AccountSpec(username=user.username, email=str(user.email), display_name=user.display_name),
        )
    )
    if policy.mail_relay.enabled:
        resources.append(
            MailAccountResource(
                id=rid("mail"),
                service=service,
                spec=MailAccountSpec(username=relay_username(operator, service), from_address=sender_address(service, config.domain)),
            )
        )
    if policy.dns.enabled:
        zone, name = policy.zone_for(config.domain), host_name(service, config.domain) + "."
        if machine is None:
            resources.append(DnsResource(id=rid("dns", "host"), service=service, depends_on=(vm.id,), spec=_address_record(policy, vm, zone, name)))
        else:
            alias = DnsRecordSpec(zone=zone, name=name, type="CNAME", ttl=policy.dns.ttl, content=(machine.spec.name,))
            resources.append(DnsResource(id=rid("dns", "host"), service=service, depends_on=(machine.id,), spec=alias))
    return resources


def _mail_records(operator: str, config: OperatorConfiguration, policy: Policy) -> list[Resource]:
    """What mail from the services' sender addresses (<service>@<domain>) needs in DNS."""
    if not (policy.dns.enabled and policy.mail_relay.enabled):
        return []
    relay = policy.mail_relay
    record = lambda role, type_, content, name=config.domain + ".": DnsResource(  # noqa: E731
        id=resource_id(operator, OPERATOR_WIDE, "dns", role),
        service=OPERATOR_WIDE,
        spec=DnsRecordSpec(zone=policy.zone_for(config.domain), name=name, type=type_, ttl=policy.dns.ttl, content=content),
    )
    records = [record("spf", "TXT", (relay.spf_record,))]
    if relay.dmarc:
        records.append(record("dmarc", "TXT", (relay.dmarc,), f"_dmarc.{config.domain}."))
    if relay.dkim is not None:
        records.append(record("dkim", "TXT", (relay.dkim.record,), f"{relay.dkim.selector}._domainkey.{config.domain}."))
    if relay.mx:
        records.append(record("mx", "MX", tuple(f"{10 * (i + 1)} {host}." for i, host in enumerate(relay.mx))))
    return records
