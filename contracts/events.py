"""Events: facts, named in the past tense."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import subjects
from .directory import DirectoryParameters, DirectoryProblemKind, MissingGroup
from .envelope import Message
from .resources import Change, Problem, Resource


class ConfigSubmitted(Message):
    """An operator submitted a configuration revision (panel -> configurator)."""

    type: Literal["config.submitted"] = subjects.CONFIG_SUBMITTED
    version: Literal[1] = 1
    revision: int = Field(ge=1, description="The operator's configuration revision number.")
    configuration: dict[str, Any] = Field(
        description="An OperatorConfiguration document (see operator-configuration.schema.json), validated by the configurator."
    )


class ConfigRejected(Message):
    """The configurator refused a revision, with field-level reasons."""

    type: Literal["config.rejected"] = subjects.CONFIG_REJECTED
    version: Literal[1] = 1
    revision: int
    problems: tuple[Problem, ...]


class PlanCreated(Message):
    """The configuration became granular resources and the changes to make."""

    type: Literal["plan.created"] = subjects.PLAN_CREATED
    version: Literal[1] = 1
    deployment_id: str
    revision: int
    domain: str
    resources: tuple[Resource, ...]
    changes: tuple[Change, ...]
    origin: Literal["operator", "campaign", "rollback", "removal"] = Field(
        default="operator",
        description="Who started it: the operator's own submission, a provider update campaign, the rollback of a failed "
        "campaign update (back to the last good state), or the removal of the account.",
    )
    campaign_id: str | None = Field(default=None, description="With origin campaign or rollback: the campaign.")


class DeploymentStarted(Message):
    type: Literal["deployment.started"] = subjects.DEPLOYMENT_STARTED
    version: Literal[1] = 1
    deployment_id: str
    revision: int
    total_steps: int


StepState = Literal["pending", "running", "done", "failed"]


class DeploymentProgress(Message):
    """One step of a deployment changed state."""

    type: Literal["deployment.progress"] = subjects.DEPLOYMENT_PROGRESS
    version: Literal[1] = 1
    deployment_id: str
    step: str = Field(description="Resource id of the step.")
    step_kind: str = Field(description="vm, bucket, account or nixos.")
    state: StepState
    done: int = Field(description="Steps finished so far.")
    total: int
    eta_seconds: float | None = Field(default=None, description="Estimated seconds left, from measured step durations.")
    detail: str = Field(default="", description="What is happening, in plain words.")


class DeploymentSucceeded(Message):
    type: Literal["deployment.succeeded"] = subjects.DEPLOYMENT_SUCCEEDED
    version: Literal[1] = 1
    deployment_id: str
    revision: int
    duration_seconds: float
    urls: dict[str, str] = Field(description="Service name -> its public URL.")


class DeploymentFailed(Message):
    type: Literal["deployment.failed"] = subjects.DEPLOYMENT_FAILED
    version: Literal[1] = 1
    deployment_id: str
    revision: int
    failed_step: str | None
    reason: str = Field(description="What failed and why, in plain words.")


class VmProvisioned(Message):
    type: Literal["vm.provisioned"] = subjects.VM_PROVISIONED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    node: str
    vmid: int
    name: str
    address: str
    cores: int
    memory_mib: int
    disk_gib: int


class BucketCreated(Message):
    type: Literal["bucket.created"] = subjects.BUCKET_CREATED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    bucket: str
    endpoint: str
    region: str
    access_key_id: str
    secret_ref: str = Field(description="Reference to the key's secret, fetched from storage over secret.get.")


class BucketFailed(Message):
    type: Literal["bucket.failed"] = subjects.BUCKET_FAILED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    reason: str


class AccountCreated(Message):
    type: Literal["account.created"] = subjects.ACCOUNT_CREATED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    service: str
    username: str
    secret_ref: str = Field(description="Reference to the generated password, fetched from identity over secret.get.")


class AccountFailed(Message):
    type: Literal["account.failed"] = subjects.ACCOUNT_FAILED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    reason: str


class VmUpdated(Message):
    type: Literal["vm.updated"] = subjects.VM_UPDATED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    node: str
    vmid: int
    changed: tuple[str, ...] = Field(description="What changed, e.g. cores, memory_mib, disk_gib.")
    rebooted: bool = False


class VmDeleted(Message):
    type: Literal["vm.deleted"] = subjects.VM_DELETED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    node: str
    vmid: int


class DnsUpdated(Message):
    """Records were replaced or deleted in the operator's zone."""

    type: Literal["dns.updated"] = subjects.DNS_UPDATED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    name: str
    record_type: str
    content: tuple[str, ...] = Field(description="What the record now holds; empty when deleted.")


class DeploymentCancelled(Message):
    """A queued deployment was superseded by a newer configuration before it started."""

    type: Literal["deployment.cancelled"] = subjects.DEPLOYMENT_CANCELLED
    version: Literal[1] = 1
    deployment_id: str
    revision: int
    reason: str


class BucketDeleted(Message):
    type: Literal["bucket.deleted"] = subjects.BUCKET_DELETED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    bucket: str
    data_kept: bool = Field(description="True: the key was revoked, the bucket and its objects remain.")
    objects_removed: int = 0


class BucketUsageReported(Message):
    """How much a bucket holds, as Garage counts it (storage -> panel)."""

    type: Literal["bucket.usage.reported"] = subjects.BUCKET_USAGE_REPORTED
    version: Literal[1] = 1
    bucket: str
    bytes: int
    objects: int
    quota_bytes: int | None = Field(default=None, description="The bucket's size quota, if any: bytes at or near it means the operator's service can no longer write.")
    quota_objects: int | None = Field(default=None, description="The bucket's object-count quota, if any.")


class AccountDeleted(Message):
    type: Literal["account.deleted"] = subjects.ACCOUNT_DELETED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    service: str
    username: str


class SshKeyCreated(Message):
    type: Literal["sshkey.created"] = subjects.SSHKEY_CREATED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    public_key: str
    secret_ref: str = Field(description="Reference to the private key, fetched from identity over secret.get.")


class SshKeyDeleted(Message):
    type: Literal["sshkey.deleted"] = subjects.SSHKEY_DELETED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str


class NixosDeployed(Message):
    type: Literal["nixos.deployed"] = subjects.NIXOS_DEPLOYED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    vm_name: str
    address: str
    config_hash: str = Field(description="sha256 of the per-VM JSON that now runs.")


SyncTrigger = Literal["connect", "demand", "schedule"]


class DirectoryConnected(Message):
    """The operator's own LDAP directory passed the connection check and is now synced (identity -> panel)."""

    type: Literal["directory.connected"] = subjects.DIRECTORY_CONNECTED
    version: Literal[1] = 1
    parameters: DirectoryParameters = Field(description="The connection parameters kept (the bind password is stored encrypted, never sent).")
    users: int = Field(description="Users the check found.")
    groups: int = Field(description="Groups the check found.")


class DirectorySyncCompleted(Message):
    """One sync of the operator's directory into its subtree, with what it changed."""

    type: Literal["directory.sync.completed"] = subjects.DIRECTORY_SYNC_COMPLETED
    version: Literal[1] = 1
    trigger: SyncTrigger
    users_total: int = Field(description="Users in the operator's subtree after the sync.")
    users_added: int
    users_updated: int
    users_removed: int
    memberships_added: int = Field(description="Users added to a service's admins/moderators/users group.")
    memberships_removed: int
    duration_seconds: float
    missing_groups: tuple[MissingGroup, ...] = Field(
        default=(), description="Mapped groups the operator's directory no longer has; each counted as a group with no members."
    )


class DirectorySyncFailed(Message):
    """A sync could not run; nothing in the operator's subtree was changed."""

    type: Literal["directory.sync.failed"] = subjects.DIRECTORY_SYNC_FAILED
    version: Literal[1] = 1
    trigger: SyncTrigger
    problem: DirectoryProblemKind
    reason: str = Field(description="What is wrong, in plain words.")


class DirectoryRemoved(Message):
    """Report of an operator's removal on the identity side: subtree, directory link and secrets gone."""

    type: Literal["directory.removed"] = subjects.DIRECTORY_REMOVED
    version: Literal[1] = 1
    deployment_id: str
    entries_removed: int = Field(description="Directory entries deleted (accounts, people, groups, units).")
    accounts_removed: int
    ssh_keys_removed: int
    secrets_removed: int
    external_link_removed: bool = Field(description="Whether a link to the operator's own directory was dropped.")


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RemovedBucket(_Part):
    name: str
    objects: int = Field(description="Objects it held when it was removed (unfinished multipart uploads were aborted besides).")
    bytes: int


class RemovedKey(_Part):
    access_key_id: str
    name: str


class ProviderBucket(_Part):
    """A bucket the provider assigned to the operator (US 5.1): it stays with the provider, objects included."""

    name: str
    access_key_id: str = Field(description="The key the provider assigned with it.")
    access_revoked: bool = Field(
        description="The key can no longer reach the bucket. False: storage cannot take its rights (plain S3, or the "
        "bucket is at another endpoint); the provider must."
    )


class NotRemoved(_Part):
    name: str = Field(description="The bucket or key.")
    reason: str


class StorageRemoved(Message):
    """Report of an operator's removal on the storage side: every bucket of theirs emptied and deleted,
    every key deleted, the provider's buckets handed back (storage -> orchestrator, panel). A request
    repeated for the same deployment reports the same; a later one only what is new."""

    type: Literal["storage.removed"] = subjects.STORAGE_REMOVED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    buckets: tuple[RemovedBucket, ...] = ()
    keys: tuple[RemovedKey, ...] = ()
    provider_buckets: tuple[ProviderBucket, ...] = ()
    not_removed: tuple[NotRemoved, ...] = Field(
        default=(), description="What is still there and why; a later request tries again."
    )
