"""Commands: requests to another service, named in the imperative."""

from typing import Literal

from pydantic import Field

from . import subjects
from .envelope import Command


class BucketRequested(Command):
    """Create (or find) a bucket and an access key allowed on it only (orchestrator -> storage)."""

    type: Literal["bucket.requested"] = subjects.BUCKET_REQUESTED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    bucket: str = Field(description="Deterministic bucket name.")
    quota_bytes: int | None = None
    quota_objects: int | None = None
    preconfigured: bool = Field(
        default=False,
        description="Use the existing bucket the provider assigned to the operator (US 5.1): storage verifies it can reach it with the assigned key instead of creating anything.",
    )


class AccountRequested(Command):
    """Create (or find) an account in the operator's directory (orchestrator -> identity): a service
    admin account, an SMTP relay account a service sends mail with, or the operator's directory reader."""

    type: Literal["account.requested"] = subjects.ACCOUNT_REQUESTED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    service: str
    username: str
    email: str
    display_name: str
    purpose: Literal["admin", "smtp", "reader"] = Field(
        default="admin",
        description="admin: the service's admin account; smtp: its mail relay account; reader: the operator's read-only"
        " directory account its services bind as (cn=reader,ou=<operator>), one per operator.",
    )


class AccountDeletionRequested(Command):
    """Remove an account and its secret (orchestrator -> identity)."""

    type: Literal["account.deletion.requested"] = subjects.ACCOUNT_DELETION_REQUESTED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    service: str
    username: str
    purpose: Literal["admin", "smtp", "reader"] = "admin"


class BucketDeletionRequested(Command):
    """Stop a bucket's use (orchestrator -> storage): with keep_data its key is revoked and the
    objects stay; without, the bucket is emptied and deleted with its key."""

    type: Literal["bucket.deletion.requested"] = subjects.BUCKET_DELETION_REQUESTED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    bucket: str
    keep_data: bool = Field(description="The operator's explicit choice; data is never deleted without it.")


class SshKeyRequested(Command):
    """Make (or find) an SSH deploy key pair (orchestrator -> identity)."""

    type: Literal["sshkey.requested"] = subjects.SSHKEY_REQUESTED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    name: str


class SshKeyDeletionRequested(Command):
    type: Literal["sshkey.deletion.requested"] = subjects.SSHKEY_DELETION_REQUESTED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str
    name: str


class OperatorRemovalRequested(Command):
    """An operator asked to delete their account and everything it runs (panel -> configurator)."""

    type: Literal["operator.removal.requested"] = subjects.OPERATOR_REMOVAL_REQUESTED
    version: Literal[1] = 1
    reason: str = ""


class DirectorySyncRequested(Command):
    """Sync the operator's own LDAP directory into its subtree now (panel or `fedi ldap sync` -> identity)."""

    type: Literal["directory.sync.requested"] = subjects.DIRECTORY_SYNC_REQUESTED
    version: Literal[1] = 1


class DirectoryRemovalRequested(Command):
    """Remove the operator's whole subtree, its directory link and every secret identity keeps for it
    (orchestrator -> identity, the last step of an operator's removal, US 6.3)."""

    type: Literal["directory.removal.requested"] = subjects.DIRECTORY_REMOVAL_REQUESTED
    version: Literal[1] = 1
    deployment_id: str


class StorageRemovalRequested(Command):
    """Remove every bucket (emptied) and every key storage holds for the operator, whether a plan knows
    them or not; buckets the provider assigned stay, their access revoked (orchestrator -> storage,
    after the bucket deletions of an operator's removal, US 6.3)."""

    type: Literal["storage.removal.requested"] = subjects.STORAGE_REMOVAL_REQUESTED
    version: Literal[1] = 1
    deployment_id: str
    resource_id: str = Field(description="The removal's step for it: <operator>/_/storage.")
