"""The names that mark what is ours on the provider's backends: the VM tags the configurator and the
orchestrator give, and the prefix of the buckets and keys storage makes."""

OUR_TAG = "fedi"
OPERATOR_TAG = "fedi-op-"
"""Followed by the operator: on every VM of that operator."""
KEPT_TAG = "fedi-kept"
"""On a VM shut down with its disk kept (its service switched off with "keep", or replaced)."""
REPLACED_TAG = "fedi-replaced"
"""On a VM a replacement took the place of: its disk still holds the service's data."""
STORAGE_PREFIX = "fedi-"
"""Buckets and keys are named fedi-<operator>-<service>."""


def operator_tag(operator: str) -> str:
    """The Proxmox tag the configurator puts on every VM of the operator."""
    return f"{OPERATOR_TAG}{operator}".lower()
