"""What storage does, in its own terms: the port every S3 backend implements and what it answers.

A backend raises `Unavailable` when the same call may succeed later (the message is redelivered)
and `Refused` when it never will (the orchestrator is told why, in the backend's own words).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
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


@dataclass(frozen=True)
class Holdings:
    """What a store holds under some names: buckets with what each holds, keys by id with their names."""

    buckets: dict[str, Usage] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)


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

    def holdings(self, wanted: Callable[[str], bool]) -> Holdings:
        """Every bucket and every key of storage's own whose name `wanted` accepts."""

    def delete_key(self, access_key_id: str) -> None:
        """Delete a key storage made; nothing if it is gone already."""

    def withdraw(self, name: str, access_key_id: str) -> bool:
        """Take every right on the bucket from a key storage did not make (a provider's); the key stays.
        False when the backend cannot."""


def bucket_key_name(bucket: str) -> str:
    """The name of the key a bucket's service uses: the bucket's own name, so a retry finds it."""
    return bucket


CLEANER = ".cleaner"


def cleaner_key_name(bucket: str) -> str:
    """A short-lived key storage itself uses to empty a bucket before deleting it."""
    return f"{bucket}{CLEANER}"


def operators_names(operator_id: str, recorded: Collection[str] = (), spared: Collection[str] = ()) -> Callable[[str], bool]:
    """Which bucket and key names are the operator's: the names the configurator gives its buckets,
    `fedi-<operator>-<service>` (a service's name has no hyphen, so `fedi-acme-corp-mastodon` is not
    acme's), the `recorded` ones, and the keys storage names after such a bucket; never the `spared` ones."""
    automatic = re.compile(rf"fedi-{re.escape(operator_id)}-[a-z0-9]+")

    def wanted(name: str) -> bool:
        bucket = name.removesuffix(CLEANER)
        return bucket not in spared and (bucket in recorded or automatic.fullmatch(bucket) is not None)

    return wanted
