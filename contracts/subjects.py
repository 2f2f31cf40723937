"""Every subject on the bus, in one place. Services never spell a subject inline."""

STREAM = "FEDI"
"""The one JetStream stream that holds every event and command (the audit log of who did what is apart: runtime.audit)."""

CONFIG_SUBMITTED = "config.submitted"
CONFIG_REJECTED = "config.rejected"
PLAN_CREATED = "plan.created"

DEPLOYMENT_STARTED = "deployment.started"
DEPLOYMENT_PROGRESS = "deployment.progress"
DEPLOYMENT_SUCCEEDED = "deployment.succeeded"
DEPLOYMENT_FAILED = "deployment.failed"

VM_PROVISIONED = "vm.provisioned"
VM_UPDATED = "vm.updated"
VM_DELETED = "vm.deleted"
DNS_UPDATED = "dns.updated"
DEPLOYMENT_CANCELLED = "deployment.cancelled"

BUCKET_REQUESTED = "bucket.requested"
BUCKET_CREATED = "bucket.created"
BUCKET_FAILED = "bucket.failed"
BUCKET_DELETION_REQUESTED = "bucket.deletion.requested"
BUCKET_DELETED = "bucket.deleted"
BUCKET_USAGE_REPORTED = "bucket.usage.reported"

ACCOUNT_REQUESTED = "account.requested"
ACCOUNT_CREATED = "account.created"
ACCOUNT_FAILED = "account.failed"
ACCOUNT_DELETION_REQUESTED = "account.deletion.requested"
ACCOUNT_DELETED = "account.deleted"

SSHKEY_REQUESTED = "sshkey.requested"
SSHKEY_CREATED = "sshkey.created"
SSHKEY_DELETION_REQUESTED = "sshkey.deletion.requested"
SSHKEY_DELETED = "sshkey.deleted"

OPERATOR_REMOVAL_REQUESTED = "operator.removal.requested"

DIRECTORY_CONNECTED = "directory.connected"
DIRECTORY_SYNC_REQUESTED = "directory.sync.requested"
DIRECTORY_SYNC_COMPLETED = "directory.sync.completed"
DIRECTORY_SYNC_FAILED = "directory.sync.failed"
DIRECTORY_REMOVAL_REQUESTED = "directory.removal.requested"
DIRECTORY_REMOVED = "directory.removed"

STORAGE_REMOVAL_REQUESTED = "storage.removal.requested"
STORAGE_REMOVED = "storage.removed"

NIXOS_DEPLOYED = "nixos.deployed"

# Fleet-wide updates (contracts.fleet).
CAMPAIGN_REQUESTED = "campaign.requested"
CAMPAIGN_CONTROL_REQUESTED = "campaign.control.requested"
CAMPAIGN_WINDOW_CHOSEN = "campaign.window.chosen"
CAMPAIGN_SCHEDULED = "campaign.scheduled"
CAMPAIGN_REFUSED = "campaign.refused"
CAMPAIGN_OPERATOR_NOTIFIED = "campaign.operator.notified"
CAMPAIGN_CHOICE_REFUSED = "campaign.choice.refused"
CAMPAIGN_OPERATOR_STARTED = "campaign.operator.started"
CAMPAIGN_OPERATOR_COMPLETED = "campaign.operator.completed"
CAMPAIGN_OPERATOR_FAILED = "campaign.operator.failed"
CAMPAIGN_OPERATOR_ROLLED_BACK = "campaign.operator.rolled_back"
CAMPAIGN_WAVE_STARTED = "campaign.wave.started"
CAMPAIGN_STATE_CHANGED = "campaign.state.changed"

DEAD_LETTER_PREFIX = "dlq"
"""A message that cannot be handled is parked on `dlq.<original subject>` with the reason in headers."""

# Core NATS request/reply: never stored in the stream.
PLAN_PREVIEW = "plan.preview"
SECRET_GET = "secret.get"
"""Prefix: a secret's owner answers on `secret.get.<owner>`."""
DIRECTORY_CHECK = "directory.check"
"""panel -> identity: test an operator's LDAP connection parameters; changes nothing."""
DIRECTORY_CONNECT = "directory.connect"
"""panel -> identity: check, then keep the parameters (password encrypted) and sync."""
CAMPAIGN_PREVIEW = "campaign.preview"
"""panel, fedi fleet -> configurator: what a policy change would do to every operator."""
CAMPAIGN_STATUS = "campaign.status"
"""panel, fedi fleet -> configurator: campaigns and each operator's part in them."""


def dead_letter(subject: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{subject}"


def secret_get(owner: str) -> str:
    return f"{SECRET_GET}.{owner}"
