"""The hosting provider's policy: what each service gets, where VMs go, what an operator may use.

The provider edits it as a YAML or JSON file (`FEDI_CONFIGURATOR_POLICY_FILE`; see
`policy.example.yaml` beside this package); without one, the defaults below apply. A file is
validated on load and refused as a whole, with every problem named by its path.
"""

import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.fleet import WeeklyWindow

from .naming import BUCKET_PREFIX

SERVICES = ("mastodon", "peertube", "pixelfed")
ServiceName = Literal["mastodon", "peertube", "pixelfed"]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _domain(value: str) -> str:
    domain = value.strip().lower().rstrip(".")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not a domain name such as provider.example")
    return domain


def _host(value: str) -> str:
    host = value.strip().lower().rstrip(".")
    if not host or not all(_LABEL.match(label) for label in host.split(".")):
        raise ValueError(f"{value!r} is not a host name")
    return host


def _bucket(value: str) -> str:
    if not _BUCKET.match(value) or ".." in value:
        raise ValueError(f"{value!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)")
    return value


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip()))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network such as 10.10.0.0/24 ({exc})") from None


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


LDAP_PORTS = {"ldap": 389, "ldaps": 636}


def _ldap_url(value: str) -> str:
    """`ldap://` or `ldaps://`, a host name or IPv4 address, maybe a port; written back as scheme://host:port."""
    wrong = f"{value!r} is not an LDAP URL such as ldaps://ldap.provider.example"
    try:
        url = urlsplit(value.strip())
        scheme, port = url.scheme.lower(), url.port
    except ValueError as exc:
        raise ValueError(f"{wrong} ({exc})") from None
    if scheme not in LDAP_PORTS:
        raise ValueError(f"{wrong}: the scheme must be ldap:// or ldaps://")
    if url.username is not None or url.password is not None:
        raise ValueError(f"{value!r}: the LDAP URL must not hold credentials (the VMs bind with a secret file)")
    if url.path not in ("", "/") or url.query or url.fragment:
        raise ValueError(f"{wrong}: nothing may follow the host and port")
    if port == 0:
        raise ValueError(f"{wrong}: port 0 is no port")
    host = url.hostname or ""
    try:
        host = _address(host) if host.replace(".", "").isdigit() else _host(host)
    except ValueError:
        raise ValueError(f"{wrong}: {host!r} is not a host name or IPv4 address") from None
    return f"{scheme}://{host}:{port or LDAP_PORTS[scheme]}"


def _dn(value: str) -> str:
    dn = value.strip()
    try:
        parse_dn(dn)
    except LDAPInvalidDnError as exc:
        raise ValueError(f"{value!r} is not a DN such as dc=provider,dc=example ({exc})") from None
    return dn


Network = Annotated[str, AfterValidator(_network)]
Address = Annotated[str, AfterValidator(_address)]
Domain = Annotated[str, AfterValidator(_domain)]
Host = Annotated[str, AfterValidator(_host)]
BucketName = Annotated[str, AfterValidator(_bucket)]
LdapUrl = Annotated[str, AfterValidator(_ldap_url)]
DistinguishedName = Annotated[str, AfterValidator(_dn)]
OperatorId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
ProxmoxId = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9._-]*$", max_length=63)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VmSize(_Strict):
    cores: int = Field(ge=1, le=256, description="vCPU cores.")
    memory_mib: int = Field(ge=256, description="Memory in MiB.")
    disk_gib: int = Field(ge=1, description="System disk in GiB (holds the service's database).")


class Sizes(_Strict):
    """The VM size of each service (added up when services share a VM)."""

    mastodon: VmSize = VmSize(cores=2, memory_mib=4096, disk_gib=40)
    peertube: VmSize = VmSize(cores=4, memory_mib=8192, disk_gib=60)
    pixelfed: VmSize = VmSize(cores=2, memory_mib=2048, disk_gib=40)


class BucketQuotas(_Strict):
    """Services that keep their media in S3, with the bucket's size quota in GiB; null: no bucket."""

    mastodon: int | None = Field(default=100, ge=1)
    peertube: int | None = Field(default=500, ge=1)
    pixelfed: int | None = Field(default=100, ge=1)


class Node(_Strict):
    name: ProxmoxId = Field(description="Proxmox node name.")
    ip_pool: str | None = Field(default=None, description="Name of the IP pool (in ip_pools) its VMs take addresses from.")


class Proxmox(_Strict):
    nodes: tuple[Node, ...] = Field(
        default=(), description="Nodes VMs are spread over (stable: adding a node moves few VMs); empty: the orchestrator's node."
    )
    template: int | None = Field(default=None, ge=100, description="VM id of the NixOS template; null: the orchestrator's.")
    storage: ProxmoxId | None = Field(default=None, description="Storage id for VM disks (e.g. the shared Linstor storage).")


class IpPool(_Strict):
    """A network VMs attach to (its name is the Proxmox bridge or SDN VNet) and the range its IPAM hands out."""

    cidr: Network
    gateway: Address | None = None

    @model_validator(mode="after")
    def _gateway_inside(self) -> "IpPool":
        if self.gateway is not None and ipaddress.ip_address(self.gateway) not in self.network:
            raise ValueError(f"gateway {self.gateway} is outside {self.cidr}")
        return self

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)

    @property
    def record_type(self) -> Literal["A", "AAAA"]:
        return "A" if self.network.version == 4 else "AAAA"


class Quota(_Strict):
    """What one operator may use in total; null: no limit."""

    vms: int | None = Field(default=None, ge=0)
    cores: int | None = Field(default=None, ge=0)
    memory_gib: float | None = Field(default=None, ge=0)
    disk_gib: int | None = Field(default=None, ge=0)
    buckets: int | None = Field(default=None, ge=0)

    def over(self, other: "Quota | None") -> "Quota":
        """This quota with the limits `other` sets replacing ours."""
        if other is None:
            return self
        return self.model_copy(update=other.model_dump(exclude_unset=True))


class OperatorPolicy(_Strict):
    quota: Quota | None = Field(default=None, description="Limits replacing the default quota's, field by field.")
    buckets: dict[ServiceName, BucketName] = Field(
        default_factory=dict,
        description="Existing buckets the provider assigned (US 5.1), by service: the plan uses them instead of new ones.",
    )


class Dkim(_Strict):
    selector: Host = Field(description="The selector the relay signs with, e.g. fedi2027.")
    public_key: str = Field(pattern=r"^[A-Za-z0-9+/=]{40,}$", description="The relay's DKIM public key, base64 (no PEM lines).")
    key_type: Literal["rsa", "ed25519"] = "rsa"

    @property
    def record(self) -> str:
        return f"v=DKIM1; k={self.key_type}; p={self.public_key}"


class MailRelay(_Strict):
    enabled: bool = True
    host: Host = "smtp.relay.provider.example"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls"] = "starttls"
    spf: str = Field(default="", description="SPF mechanisms allowing the relay to send, e.g. include:_spf.relay.example; empty: a:<host>.")
    mx: tuple[Host, ...] = Field(default=(), description="Hosts receiving mail (bounces) for operator domains, most preferred first; empty: no MX record.")
    dmarc: str = Field(
        default="v=DMARC1; p=none", pattern=r"^(v=DMARC1;.*)?$",
        description="The _dmarc record of operator domains (p=none only reports); empty: no DMARC record.",
    )
    dkim: "Dkim | None" = Field(default=None, description="The relay's DKIM key, published under each operator domain; none: not published.")

    @property
    def spf_record(self) -> str:
        return f"v=spf1 {self.spf.strip() or 'a:' + self.host} ~all"


class Dns(_Strict):
    enabled: bool = True
    ttl: int = Field(default=300, ge=60, le=86400)
    zones: tuple[Domain, ...] = Field(
        default=(), description="Zones the provider hosts; an operator domain under one gets its records there, otherwise a zone of its own."
    )


class Directory(_Strict):
    """The provider's LDAP directory (identity keeps each operator's people and groups there) as the
    VMs reach it: each service signs its users in against the operator's subtree. Each operator's
    VMs bind as that operator's own read-only account (its password only as a secret file on them)."""

    enabled: bool = False
    url: LdapUrl = Field(default="ldaps://ldap.provider.example:636", description="The directory as the VMs reach it: ldaps://host[:port].")
    base_dn: DistinguishedName = Field(
        default="dc=fedi,dc=test", description="The suffix holding ou=<operator>: identity's FEDI_IDENTITY_LDAP_BASE_DN, exactly."
    )
    tls: bool = Field(default=True, description="TLS from the start (ldaps://); false (ldap://) sends passwords in the clear.")

    @model_validator(mode="after")
    def _tls_matches_the_scheme(self) -> "Directory":
        ldaps = self.url.startswith("ldaps://")
        if self.tls and not ldaps:
            raise ValueError(
                f"tls is on but the url {self.url} is plain LDAP: use ldaps:// (StartTLS is not offered: PeerTube's LDAP"
                " plugin cannot use it), or set tls: false to send passwords unencrypted"
            )
        if ldaps and not self.tls:
            raise ValueError(f"tls is off but the url {self.url} is LDAP over TLS: use ldap:// or set tls: true")
        return self


class SshKeys(_Strict):
    enabled: bool = True
    generation: int = Field(default=1, ge=1, description="Raise it to rekey: every operator gets a new deploy key, the old one is removed.")


class Maintenance(_Strict):
    """Fleet-wide updates: the window operators get unless they choose their own, and the notices."""

    default_window: WeeklyWindow = WeeklyWindow(day="sunday", start="02:00", duration_minutes=240, timezone="UTC")
    minimum_window_minutes: int = Field(default=60, ge=15, le=24 * 60, description="The shortest window an operator may choose.")
    reminders_hours: tuple[int, ...] = Field(default=(168, 24), description="Reminders before an update starts, in hours (7 days, 1 day).")

    @model_validator(mode="after")
    def _default_window_is_long_enough(self) -> "Maintenance":
        if self.default_window.duration_minutes < self.minimum_window_minutes:
            raise ValueError(f"default_window: shorter than minimum_window_minutes ({self.minimum_window_minutes})")
        return self


class Removal(_Strict):
    retention_days: int = Field(default=2557, ge=1, description="How long the record of a removed operator is kept (7 years).")


class Policy(_Strict):
    release: str = Field(default="24.11", min_length=1, description="Fediversity release every VM runs; a change updates every NixOS.")
    sizes: Sizes = Sizes()
    bucket_quota_gib: BucketQuotas = BucketQuotas()
    placement: Literal["per_service", "combined"] = Field(
        default="per_service", description="One VM per service, or every service of an operator on one VM."
    )
    proxmox: Proxmox = Proxmox()
    ip_pools: dict[ProxmoxId, IpPool] = Field(default_factory=dict)
    allowed_parent_domains: tuple[Domain, ...] = Field(
        default=(), description="If any: an operator's domain must be under one of them."
    )
    quota: Quota = Field(default=Quota(), description="Every operator's limits unless operators.<id>.quota says otherwise.")
    operators: dict[OperatorId, OperatorPolicy] = Field(default_factory=dict)
    mail_relay: MailRelay = MailRelay()
    dns: Dns = Dns()
    directory: Directory = Directory()
    ssh_keys: SshKeys = SshKeys()
    removal: Removal = Removal()
    maintenance: Maintenance = Maintenance()

    @model_validator(mode="after")
    def _consistent(self) -> "Policy":
        if problems := self._inconsistencies():
            raise ValueError("\n".join(problems))
        return self

    def _inconsistencies(self) -> list[str]:
        """What the settings say against each other, every problem at once."""
        problems = []
        names = [node.name for node in self.proxmox.nodes]
        problems += [f"proxmox.nodes: node {name} is listed more than once" for name in sorted({n for n in names if names.count(n) > 1})]
        known = ", ".join(sorted(self.ip_pools)) or "none defined"
        problems += [
            f"proxmox.nodes: node {node.name} uses IP pool {node.ip_pool!r}, which ip_pools does not define ({known})"
            for node in self.proxmox.nodes
            if node.ip_pool is not None and node.ip_pool not in self.ip_pools
        ]
        assigned: dict[str, str] = {}
        for operator, own in sorted(self.operators.items()):
            for service, bucket in sorted(own.buckets.items()):
                where = f"operators.{operator}.buckets.{service}"
                if bucket.startswith(BUCKET_PREFIX):
                    problems.append(f"{where}: {bucket!r}: names starting with {BUCKET_PREFIX} are kept for the buckets the configurator creates")
                if bucket in assigned:
                    problems.append(f"{where}: bucket {bucket!r} is already assigned at {assigned[bucket]}")
                assigned.setdefault(bucket, where)
        return problems

    # -- questions the planner asks --------------------------------------------------------------

    def quota_for(self, operator: str) -> Quota:
        own = self.operators.get(operator)
        return self.quota.over(own.quota if own else None)

    def preconfigured_bucket(self, operator: str, service: str) -> str | None:
        own = self.operators.get(operator)
        return own.buckets.get(service) if own else None

    def node_for(self, vm_name: str) -> Node | None:
        """Rendezvous hashing: stable for a VM, and a new node takes over only its fair share."""
        if not self.proxmox.nodes:
            return None
        return max(self.proxmox.nodes, key=lambda node: hashlib.sha256(f"{node.name}/{vm_name}".encode()).digest())

    def zone_for(self, domain: str) -> str:
        under = [zone for zone in self.dns.zones if domain == zone or domain.endswith("." + zone)]
        return max(under, key=len, default=domain) + "."


class PolicyError(ValueError):
    """The policy file cannot be used; `problems` names each thing wrong with it."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"the provider policy {source} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


def parse_policy(text: str, source: str = "(text)") -> Policy:
    try:
        document = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise PolicyError(source, [f"not valid {'JSON' if source.endswith('.json') else 'YAML'}: {exc}"]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise PolicyError(source, [f"must be a mapping of settings, not a {type(document).__name__}"])
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(source, [problem for error in exc.errors() for problem in _problems(error)]) from None


def with_changes(policy: Policy, *changes: dict, source: str = "the changed policy") -> Policy:
    """The policy with changes merged in, key by key (a mapping merges, anything else replaces);
    PolicyError naming every problem when the result is not a valid policy."""
    document = policy.model_dump(mode="json", exclude_unset=False)
    for change in changes:
        document = _merged(document, change)
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(source, [problem for error in exc.errors() for problem in _problems(error)]) from None


def _merged(base, change):
    if isinstance(base, dict) and isinstance(change, dict):
        return {key: _merged(base.get(key), value) if key in base else value for key, value in change.items()} | {
            key: value for key, value in base.items() if key not in change
        }
    return change


def load_policy(path: Path | None) -> Policy:
    """The policy in `path`, or the embedded default when there is none."""
    if path is None:
        return Policy()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PolicyError(str(path), [f"cannot be read: {exc.strerror or exc}"]) from None
    return parse_policy(text, str(path))


def _problems(error) -> list[str]:
    """One line per problem; the whole-policy check reports several in one error, a line each."""
    location = ".".join(str(part) for part in error["loc"] if "[" not in str(part) or str(part) == "[key]")
    messages = error["msg"].removeprefix("Value error, ").splitlines()
    return [f"{location}: {message}" if location else message for message in messages]
