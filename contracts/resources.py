"""Granular resources a plan is made of, and the changes a plan makes to them."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VmSpec(_Frozen):
    """A Proxmox VM cloned from the provider's NixOS template."""

    name: str = Field(description="VM name, deterministic: <operator>-<service>.", examples=["acme-mastodon"])
    cores: int = Field(ge=1, description="vCPU cores.")
    memory_mib: int = Field(ge=256, description="Memory in MiB.")
    disk_gib: int = Field(ge=1, description="System disk size in GiB.")
    tags: tuple[str, ...] = Field(description="Proxmox tags that identify the operator and the resource.")
    node: str | None = Field(default=None, description="Proxmox node the VM runs on (provider policy); none: the orchestrator's default node.")
    template: int | None = Field(default=None, description="VM id of the NixOS template to clone; none: the orchestrator's default template.")
    storage: str | None = Field(default=None, description="Proxmox storage id holding the VM's disks; none: the template's storage.")
    ip_pool: str | None = Field(
        default=None,
        description="The provider's IP pool the VM's address comes from: the Proxmox bridge or SDN VNet its network attaches to (its IPAM/DHCP range hands out the address); none: the orchestrator's default network.",
    )


class BucketSpec(_Frozen):
    """An S3 bucket with an access key allowed on it only."""

    name: str = Field(description="Bucket name, deterministic: fedi-<operator>-<service>.")
    quota_bytes: int | None = Field(default=None, ge=1, description="Largest total size, or none.")
    quota_objects: int | None = Field(default=None, ge=1, description="Largest object count, or none.")
    preconfigured: bool = Field(
        default=False,
        description="An existing bucket the provider assigned to the operator (US 5.1): storage verifies access instead of creating it.",
    )


class AccountSpec(_Frozen):
    """A service admin account for the operator's initial user."""

    username: str
    email: str
    display_name: str


class MailAccountSpec(_Frozen):
    """An SMTP relay account a service sends its outgoing mail with (kept in the operator's directory)."""

    username: str = Field(description="Login at the provider's relay, deterministic: <operator>-<service>.")
    from_address: str = Field(description="The sender address the service uses, e.g. mastodon@<domain>.")


class SshKeySpec(_Frozen):
    """An SSH deploy key pair for the operator's VMs; identity keeps the private half encrypted."""

    name: str = Field(description="Key name, deterministic: <operator>-deploy.")


class DnsRecordSpec(_Frozen):
    """One record set in the operator's zone on the provider's PowerDNS."""

    zone: str = Field(description="Zone with trailing dot, e.g. example.org.")
    name: str = Field(description="Fully qualified name with trailing dot, e.g. mastodon.example.org.")
    type: Literal["A", "AAAA", "CNAME", "MX", "TXT"]
    ttl: int = Field(default=300, ge=60)
    content: tuple[str, ...] = Field(default=(), description="Record contents, when known at planning time.")
    address_of: str | None = Field(
        default=None, description="Resource id of a VM whose address becomes the content (A/AAAA records)."
    )


class NixosSpec(_Frozen):
    """The NixOS configuration of one VM, as the per-VM JSON the `nix/` modules read."""

    vm: str = Field(description="Resource id of the VM it is deployed onto.")
    config: dict[str, Any] = Field(description="The per-VM JSON; run-time facts (address, keys) are filled in by the orchestrator.")


class _Resource(_Frozen):
    id: str = Field(description="Stable id derived from operator, service and kind, e.g. acme/mastodon/vm.")
    service: str = Field(description="The Fediverse service it belongs to.")
    depends_on: tuple[str, ...] = Field(default=(), description="Ids of resources that must exist first.")


class VmResource(_Resource):
    kind: Literal["vm"] = "vm"
    spec: VmSpec


class BucketResource(_Resource):
    kind: Literal["bucket"] = "bucket"
    spec: BucketSpec


class AccountResource(_Resource):
    kind: Literal["account"] = "account"
    spec: AccountSpec


class NixosResource(_Resource):
    kind: Literal["nixos"] = "nixos"
    spec: NixosSpec


class MailAccountResource(_Resource):
    kind: Literal["mail"] = "mail"
    spec: MailAccountSpec


class SshKeyResource(_Resource):
    kind: Literal["sshkey"] = "sshkey"
    spec: SshKeySpec


class DnsResource(_Resource):
    kind: Literal["dns"] = "dns"
    spec: DnsRecordSpec


Resource = Annotated[
    VmResource | BucketResource | AccountResource | NixosResource | MailAccountResource | SshKeyResource | DnsResource,
    Field(discriminator="kind"),
]

ChangeAction = Literal["create", "update", "replace", "delete", "unchanged"]

DATA_KINDS = ("bucket", "vm")
"""Resources that hold an operator's data (a bucket its media, a VM's disk its database): deleting
one follows the operator's keep-or-delete choice, never anything else."""


class Change(_Frozen):
    """What the plan does to one resource, compared with what was applied before."""

    resource_id: str
    action: ChangeAction
    reason: str = Field(default="", description="Why, in words an operator understands.")
    kind: str = Field(default="", description="The resource's kind (vm, bucket, ...), so a delete can be executed without its spec.")
    service: str = Field(default="", description="The Fediverse service the resource belongs to.")
    spec: dict[str, Any] | None = Field(
        default=None, description="For delete and replace: the spec of what exists now, so it can be removed."
    )
    data: Literal["keep", "delete"] | None = Field(
        default=None,
        description="For a deleted data resource (see DATA_KINDS): keep its data (a bucket: access revoked; a VM: shut "
        "down with its disk) or delete it. Never deleted without this explicit choice.",
    )


class Problem(_Frozen):
    """One thing wrong with a submitted configuration."""

    field: str = Field(description="Dotted path of the field, e.g. initialUser.email.")
    message: str = Field(description="What is wrong, in plain words.")
