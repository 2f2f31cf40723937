"""Commands to the services that own a kind of resource: storage for buckets, identity for admin,
mail relay and directory reader accounts, SSH keys and (removed with the operator) the operator's
directory, and storage again for whatever else it holds for a removed operator. A bucket's data is
never deleted without the operator's choice."""

from contracts import Message
from contracts.commands import (
    AccountDeletionRequested,
    AccountRequested,
    BucketDeletionRequested,
    BucketRequested,
    DirectoryRemovalRequested,
    SshKeyDeletionRequested,
    SshKeyRequested,
    StorageRemovalRequested,
)

from . import progress
from .adapters.store import Deployment, Step
from .domain.plan import REMOTE_KINDS, account_purpose


class Refused(ValueError):
    """The step cannot be asked for as planned; the message says why."""


def command_for(deployment: Deployment, step: Step, recorded: dict | None) -> Message:
    spec = step.spec
    common = {**progress.envelope(deployment), "deployment_id": deployment.id, "resource_id": step.resource_id}
    if step.deleting:
        return _deletion(step, spec, recorded or {}, common)
    if step.kind == "bucket":
        return BucketRequested(**common, bucket=spec["name"], quota_bytes=spec.get("quota_bytes"), quota_objects=spec.get("quota_objects"))
    if step.kind == "account":
        return AccountRequested(
            **common, service=step.service, username=spec["username"], email=spec["email"], display_name=spec["display_name"],
            purpose=account_purpose(step.resource_id),
        )
    if step.kind == "mail":
        return AccountRequested(
            **common, service=step.service, username=spec["username"], email=spec["from_address"],
            display_name=f"{step.service} mail relay", purpose="smtp",
        )
    if step.kind == "sshkey":
        return SshKeyRequested(**common, name=spec["name"])
    raise Refused(f"no service makes resources of kind {step.kind!r}")


def _deletion(step: Step, spec: dict, recorded: dict, common: dict) -> Message:
    if step.kind == "bucket":
        if step.data not in ("keep", "delete"):
            raise Refused("the plan does not say whether to keep or delete this bucket's data; nothing was deleted")
        bucket = spec.get("name") or recorded.get("bucket")
        return BucketDeletionRequested(**common, bucket=bucket, keep_data=step.data == "keep")
    if step.kind in ("account", "mail"):
        username = spec.get("username") or recorded.get("username")
        purpose = "smtp" if step.kind == "mail" else account_purpose(step.resource_id)
        return AccountDeletionRequested(**common, service=step.service, username=username, purpose=purpose)
    if step.kind == "sshkey":
        return SshKeyDeletionRequested(**common, name=spec.get("name") or recorded.get("name", ""))
    if step.kind == "directory":  # the whole of the operator's at identity: one per operator, no resource id
        return DirectoryRemovalRequested(**{key: value for key, value in common.items() if key != "resource_id"})
    if step.kind == "storage":  # what storage holds for the operator beyond the plan's buckets
        return StorageRemovalRequested(**common)
    raise Refused(f"no service deletes resources of kind {step.kind!r}")


def asks(step: Step) -> str:
    owner = REMOTE_KINDS.get(step.kind, "identity")
    if not step.deleting:
        return f"asked {owner}"
    if step.kind == "bucket":
        return f"asked storage to {'revoke access and keep the data' if step.data == 'keep' else 'delete it with its data'}"
    if step.kind == "directory":
        return "asked identity to remove the operator's directory, people, groups and secrets"
    if step.kind == "storage":
        return "asked storage to remove every bucket and key it still holds for the operator"
    return f"asked {owner} to delete it"
