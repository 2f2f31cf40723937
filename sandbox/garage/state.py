"""The stand-in's model of a Garage cluster: buckets, access keys, permissions, quotas, objects.

Pure logic, no I/O. Every rule here mirrors Garage 2.x (`garage_model::helper`, `api/admin/*.rs`,
`api/s3/put.rs`). Callers hold `state.lock` around multi-step changes.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import errors
from .errors import INVALID_BUCKET_NAME_MESSAGE

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def now_ms() -> int:
    return int(time.time() * 1000)


def rfc3339(ms: int | None) -> str | None:
    """A timestamp as Garage (chrono) writes it: `2025-06-23T07:53:44.123Z`."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_valid_bucket_name(name: str) -> bool:
    """Garage's `is_valid_bucket_name` (punycode not allowed)."""
    if not 3 <= len(name) <= 63 or not re.fullmatch(r"[a-z0-9.-]+", name):
        return False
    if name[0] in "-." or name[-1] in "-.":
        return False
    try:
        ipaddress.ip_address(name)
        return False
    except ValueError:
        pass
    return not (name.startswith("xn--") or ".xn--" in name or name.endswith("-s3alias"))


@dataclass
class Perm:
    read: bool = False
    write: bool = False
    owner: bool = False

    def any(self) -> bool:
        return self.read or self.write or self.owner


@dataclass
class AccessKey:
    id: str
    name: str
    secret: str = field(repr=False)
    created: int = field(default_factory=now_ms)
    create_bucket: bool = False
    expiration: int | None = None  # ms since the epoch

    def expired(self, at_ms: int | None = None) -> bool:
        return self.expiration is not None and self.expiration <= (at_ms or now_ms())


@dataclass
class StoredObject:
    size: int
    written_by: str
    content_type: str | None = None
    data: bytes | None = field(default=None, repr=False)  # kept only when the state is persisted


@dataclass
class Upload:
    """An unfinished multipart upload: its bucket, object key and the bytes of each part so far."""

    bucket_id: str
    key: str
    parts: dict[int, int] = field(default_factory=dict)


@dataclass
class Bucket:
    id: str
    moto_name: str  # the bucket holding the bytes in the moto data plane
    created: int = field(default_factory=now_ms)
    global_aliases: list[str] = field(default_factory=list)
    local_aliases: list[tuple[str, str]] = field(default_factory=list)  # (key id, alias)
    max_size: int | None = None
    max_objects: int | None = None
    website: dict | None = None  # {"indexDocument", "errorDocument"} when website access is on
    perms: dict[str, Perm] = field(default_factory=dict)
    objects: dict[str, StoredObject] = field(default_factory=dict)

    def used_bytes(self) -> int:
        return sum(o.size for o in self.objects.values())


class GarageState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.buckets: dict[str, Bucket] = {}
        self.keys: dict[str, AccessKey] = {}
        self.uploads: dict[str, Upload] = {}  # upload id -> upload (not persisted: moto forgets them too)

    # ---- buckets ----

    def bucket(self, bucket_id: str) -> Bucket:
        if not _HEX64.fullmatch(bucket_id):
            raise errors.bad_request("Invalid bucket id")
        b = self.buckets.get(bucket_id.lower())
        if b is None:
            raise errors.no_such_bucket(bucket_id)
        return b

    def bucket_by_global_alias(self, alias: str) -> Bucket | None:
        return next((b for b in self.buckets.values() if alias in b.global_aliases), None)

    def resolve(self, name: str, key_id: str) -> Bucket:
        """An S3 bucket name as seen by a key: its local aliases first, then global aliases."""
        for b in self.buckets.values():
            if (key_id, name) in b.local_aliases:
                return b
        b = self.bucket_by_global_alias(name)
        if b is None:
            raise errors.no_such_bucket(name)
        return b

    def search_bucket(self, search: str) -> Bucket:
        b = self.bucket_by_global_alias(search)
        if b is not None:
            return b
        found = [b for b in self.buckets.values() if b.id.startswith(search.lower())] if search else []
        if not found:
            raise errors.no_such_bucket(search)
        if len(found) > 1:
            raise errors.bad_request(f"Several matching buckets: {search}")
        return found[0]

    def check_new_bucket(self, global_alias: str | None, local: tuple[str, str] | None) -> None:
        """Refuse a CreateBucket the way Garage does, before anything is created."""
        if global_alias is not None:
            if not is_valid_bucket_name(global_alias):
                raise errors.bad_request(f"{global_alias}: {INVALID_BUCKET_NAME_MESSAGE}")
            if self.bucket_by_global_alias(global_alias):
                raise errors.bucket_already_exists()
        if local is not None:
            key_id, alias = local
            if not is_valid_bucket_name(alias):
                raise errors.bad_request(f"{alias}: {INVALID_BUCKET_NAME_MESSAGE}")
            self.key(key_id)
            if any((key_id, alias) in b.local_aliases for b in self.buckets.values()):
                raise errors.bad_request("Local alias already exists")

    def add_bucket(
        self,
        bucket_id: str,
        moto_name: str,
        global_alias: str | None = None,
        local: tuple[str, str] | None = None,
        local_perm: Perm | None = None,
    ) -> Bucket:
        b = Bucket(id=bucket_id, moto_name=moto_name)
        if global_alias is not None:
            b.global_aliases.append(global_alias)
        if local is not None:
            b.local_aliases.append(local)
            if local_perm is not None and local_perm.any():
                b.perms[local[0]] = local_perm
        self.buckets[bucket_id] = b
        return b

    def delete_bucket(self, bucket_id: str) -> Bucket:
        """Unfinished multipart uploads do not keep a bucket alive (Garage drops them with it)."""
        b = self.bucket(bucket_id)
        if b.objects:
            raise errors.bucket_not_empty()
        for upload_id in [u for u, up in self.uploads.items() if up.bucket_id == b.id]:
            del self.uploads[upload_id]
        return self.buckets.pop(b.id)

    def uploads_of(self, bucket_id: str) -> list[Upload]:
        return [u for u in self.uploads.values() if u.bucket_id == bucket_id]

    def set_quotas(self, bucket_id: str, max_size: int | None, max_objects: int | None) -> Bucket:
        b = self.bucket(bucket_id)
        b.max_size, b.max_objects = max_size, max_objects
        return b

    def change_permissions(self, bucket_id: str, key_id: str, which: Perm, allow: bool) -> Bucket:
        b = self.bucket(bucket_id)
        self.key(key_id)
        perm = b.perms.setdefault(key_id, Perm())
        if which.read:
            perm.read = allow
        if which.write:
            perm.write = allow
        if which.owner:
            perm.owner = allow
        return b

    def permission(self, bucket: Bucket, key_id: str) -> Perm:
        return bucket.perms.get(key_id, Perm())

    # ---- objects ----

    def check_quota(self, bucket: Bucket, object_key: str, size: int) -> None:
        """Garage's `check_quotas`: overwrites are not counted twice."""
        prev = bucket.objects.get(object_key)
        obj_diff = 0 if prev else 1
        size_diff = size - (prev.size if prev else 0)
        if bucket.max_objects is not None and obj_diff > 0:
            if len(bucket.objects) + obj_diff > bucket.max_objects:
                raise errors.forbidden(
                    f"Object quota is reached, maximum objects for this bucket: {bucket.max_objects}"
                )
        if bucket.max_size is not None and size_diff > 0:
            current = bucket.used_bytes()
            if current + size_diff > bucket.max_size:
                raise errors.forbidden(
                    "Bucket size quota is reached, maximum total size of objects for this bucket: "
                    f"{bucket.max_size}. The bucket is already {current} bytes, and this object "
                    f"would add {size_diff} bytes."
                )

    # ---- keys ----

    def create_key(self, name: str, create_bucket: bool = False) -> AccessKey:
        key = AccessKey(
            id="GK" + secrets.token_hex(12),
            name=name,
            secret=secrets.token_hex(32),
            create_bucket=create_bucket,
        )
        self.keys[key.id] = key
        return key

    def key(self, key_id: str) -> AccessKey:
        key = self.keys.get(key_id)
        if key is None:
            raise errors.no_such_access_key(key_id)
        return key

    def search_key(self, search: str) -> AccessKey:
        pat = search.lower()
        found = [k for k in self.keys.values() if k.id.lower().startswith(pat) or k.name.lower() == pat]
        if len(found) != 1:
            raise errors.bad_request(f"{len(found)} matching keys")
        return found[0]

    def delete_key(self, key_id: str) -> None:
        """Garage's `delete_key`: drop its local aliases and permissions; buckets stay."""
        key = self.key(key_id)
        for b in self.buckets.values():
            b.perms.pop(key.id, None)
            b.local_aliases = [la for la in b.local_aliases if la[0] != key.id]
        del self.keys[key.id]

    def buckets_of_key(self, key_id: str) -> list[Bucket]:
        return [
            b for b in self.buckets.values()
            if key_id in b.perms or any(la[0] == key_id for la in b.local_aliases)
        ]

    # ---- views and persistence ----

    def inventory(self) -> dict:
        """What exists, for tests and the loopback aid; never secrets nor object bytes."""
        with self.lock:
            return {
                "buckets": [
                    {
                        "id": b.id,
                        "aliases": list(b.global_aliases),
                        "localAliases": [{"accessKeyId": k, "alias": a} for k, a in b.local_aliases],
                        "quotas": {"maxSize": b.max_size, "maxObjects": b.max_objects},
                        "objects": [
                            {"key": k, "size": o.size, "writtenBy": o.written_by}
                            for k, o in sorted(b.objects.items())
                        ],
                        "keys": {k: vars(p).copy() for k, p in b.perms.items()},
                        "uploads": [{"key": u.key, "parts": len(u.parts)} for u in self.uploads_of(b.id)],
                    }
                    for b in sorted(self.buckets.values(), key=lambda b: b.created)
                ],
                "keys": [{"id": k.id, "name": k.name} for k in self.keys.values()],
            }

    def to_dict(self) -> dict:
        """Everything, secrets and object bytes included: the sandbox's own store."""
        with self.lock:
            return {
                "keys": [vars(k).copy() for k in self.keys.values()],
                "buckets": [
                    {
                        **{f: getattr(b, f) for f in ("id", "moto_name", "created", "global_aliases",
                                                      "max_size", "max_objects", "website")},
                        "local_aliases": [list(la) for la in b.local_aliases],
                        "perms": {k: vars(p).copy() for k, p in b.perms.items()},
                        "objects": {
                            name: {
                                "size": o.size,
                                "written_by": o.written_by,
                                "content_type": o.content_type,
                                "data": base64.b64encode(o.data).decode() if o.data is not None else None,
                            }
                            for name, o in b.objects.items()
                        },
                    }
                    for b in self.buckets.values()
                ],
            }

    @classmethod
    def from_dict(cls, data: dict) -> GarageState:
        state = cls()
        for k in data.get("keys", []):
            state.keys[k["id"]] = AccessKey(**k)
        for raw in data.get("buckets", []):
            b = Bucket(
                id=raw["id"],
                moto_name=raw["moto_name"],
                created=raw["created"],
                global_aliases=list(raw["global_aliases"]),
                local_aliases=[tuple(la) for la in raw["local_aliases"]],
                max_size=raw["max_size"],
                max_objects=raw["max_objects"],
                website=raw.get("website"),
                perms={k: Perm(**p) for k, p in raw["perms"].items()},
            )
            for name, o in raw["objects"].items():
                data_b64 = o.pop("data")
                b.objects[name] = StoredObject(
                    **o, data=base64.b64decode(data_b64) if data_b64 is not None else None
                )
            state.buckets[b.id] = b
        return state
