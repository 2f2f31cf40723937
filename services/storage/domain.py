"""What storage does, in its own terms: the port every S3 backend implements and what it answers.

A backend raises `Unavailable` when the same call may succeed later (the message is redelivered)
and `Refused` when it never will (the orchestrator is told why, in the backend's own words).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

KEY_READERS = ("orchestrator",)
"""Services that may read a bucket key's secret (to hand it to the deployed service)."""


class Refused(Exception):
    """Permanent: retrying will not help. The message says why, in the backend's words."""


class Unavailable(Exception):
    """Transient: the backend did not answer or failed on its side; the same call may succeed later."""


@dataclass(frozen=True)
class BucketAccess:
    """A bucket and the key a service uses on it. The secret never appears in a repr."""

    bucket_id: str
    access_key_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Usage:
    bytes: int
    objects: int
    quota_bytes: int | None = None
    quota_objects: int | None = None


@dataclass(frozen=True)
class Removal:
    """What deleting a bucket removed."""

    objects: int
    keys: tuple[str, ...] = ()
    bucket_existed: bool = True


class Backend(Protocol):
    """An S3 store storage provisions on. Every call is idempotent: safe to repeat after a crash."""

    def ensure_bucket(self, name: str, quota_bytes: int | None, quota_objects: int | None) -> BucketAccess:
        """Find or create bucket `name` and a key allowed read/write on it only; apply the quotas."""

    def revoke(self, name: str, access_key_id: str) -> bool:
        """Withdraw the key's rights on the bucket and delete the key; the bucket and objects stay.
        False when the backend cannot revoke keys (the key is shared)."""

    def delete(self, name: str) -> Removal:
        """Empty the bucket (multipart uploads aborted), delete it and every key made for it."""

    def usage(self, name: str) -> Usage | None:
        """How much the bucket holds, or None if it does not exist."""


def bucket_key_name(bucket: str) -> str:
    """The name of the key a bucket's service uses: the bucket's own name, so a retry finds it."""
    return bucket


def cleaner_key_name(bucket: str) -> str:
    """A short-lived key storage itself uses to empty a bucket before deleting it."""
    return f"{bucket}.cleaner"
