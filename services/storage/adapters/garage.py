"""A small synchronous client of Garage's admin API v2, in the storage service's terms.

Ids go in the query string (`?id=`), as Garage's router reads them. Errors come back as
`GarageError` (`.transient` says whether retrying can help); secrets never appear in a repr.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)


class GarageError(Exception):
    """A refusal or failure of the Garage admin API. `status` is None when no answer came."""

    def __init__(self, status: int | None, code: str, message: str) -> None:
        super().__init__(f"{status or 'no answer'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def transient(self) -> bool:
        """Server-side or connection trouble: the same call may succeed later. 4xx never will."""
        return self.status is None or self.status >= 500


class GarageBadRequest(GarageError):
    """400: invalid name, malformed id, bad JSON."""


class GarageForbidden(GarageError):
    """403: missing or wrong admin token."""


class GarageNotFound(GarageError):
    """404: NoSuchBucket, NoSuchAccessKey."""


class GarageConflict(GarageError):
    """409: BucketAlreadyExists, BucketNotEmpty."""


class GarageUnavailable(GarageError):
    """5xx or no answer at all."""


_BY_STATUS = {400: GarageBadRequest, 403: GarageForbidden, 404: GarageNotFound, 409: GarageConflict}


@dataclass(frozen=True)
class Permissions:
    read: bool = False
    write: bool = False
    owner: bool = False

    @classmethod
    def from_api(cls, d: dict) -> Permissions:
        return cls(bool(d.get("read")), bool(d.get("write")), bool(d.get("owner")))


@dataclass(frozen=True)
class Quotas:
    max_size: int | None = None
    max_objects: int | None = None


@dataclass(frozen=True)
class BucketKey:
    """An access key's rights on a bucket."""

    key_id: str
    name: str
    permissions: Permissions


@dataclass(frozen=True)
class Bucket:
    id: str
    global_aliases: tuple[str, ...]
    quotas: Quotas
    keys: tuple[BucketKey, ...] = ()
    objects: int = 0
    bytes: int = 0
    created: str | None = None
    unfinished_uploads: int = 0
    """Multipart uploads begun and neither completed nor aborted."""

    @property
    def alias(self) -> str | None:
        return self.global_aliases[0] if self.global_aliases else None

    def permissions_of(self, key_id: str) -> Permissions:
        return next((k.permissions for k in self.keys if k.key_id == key_id), Permissions())

    @classmethod
    def from_api(cls, d: dict) -> Bucket:
        q = d.get("quotas") or {}
        return cls(
            id=d["id"],
            global_aliases=tuple(d.get("globalAliases", ())),
            quotas=Quotas(q.get("maxSize"), q.get("maxObjects")),
            keys=tuple(BucketKey(k["accessKeyId"], k.get("name", ""), Permissions.from_api(k.get("permissions", {})))
                       for k in d.get("keys", ())),
            objects=d.get("objects", 0),
            bytes=d.get("bytes", 0),
            created=d.get("created"),
            unfinished_uploads=d.get("unfinishedMultipartUploads", 0),
        )


@dataclass(frozen=True)
class Key:
    """An S3 access key. `secret` is only filled when asked for, and stays out of repr."""

    id: str
    name: str
    secret: str | None = field(default=None, repr=False, compare=False)
    can_create_buckets: bool = False
    bucket_permissions: dict[str, Permissions] = field(default_factory=dict, compare=False, hash=False)
    expired: bool = False

    @classmethod
    def from_api(cls, d: dict) -> Key:
        return cls(
            id=d["accessKeyId"],
            name=d.get("name", ""),
            secret=d.get("secretAccessKey"),
            can_create_buckets=bool((d.get("permissions") or {}).get("createBucket")),
            bucket_permissions={b["id"]: Permissions.from_api(b.get("permissions", {})) for b in d.get("buckets", ())},
            expired=bool(d.get("expired")),
        )


@dataclass(frozen=True)
class ClusterHealth:
    status: str  # healthy | degraded | unavailable
    storage_nodes: int
    storage_nodes_ok: int

    @property
    def ok(self) -> bool:
        return self.status in ("healthy", "degraded")


class GarageAdmin:
    """Garage admin API v2 client. `GarageAdmin(url, token)`; use as a context manager or `close()`."""

    def __init__(self, admin_url: str, token: str, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(
            base_url=admin_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GarageAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GarageAdmin({str(self._http.base_url)!r})"

    # ---- cluster ----

    def health(self) -> ClusterHealth:
        d = self._call("GET", "GetClusterHealth")
        return ClusterHealth(d["status"], d["storageNodes"], d["storageNodesOk"])

    # ---- buckets ----

    def create_bucket(self, global_alias: str) -> Bucket:
        """Raises GarageConflict (BucketAlreadyExists) if the alias is taken."""
        return Bucket.from_api(self._call("POST", "CreateBucket", json={"globalAlias": global_alias}))

    def find_bucket(self, global_alias: str) -> Bucket | None:
        try:
            return Bucket.from_api(self._call("GET", "GetBucketInfo", params={"globalAlias": global_alias}))
        except GarageNotFound:
            return None

    def get_bucket(self, bucket_id: str) -> Bucket:
        return Bucket.from_api(self._call("GET", "GetBucketInfo", params={"id": bucket_id}))

    def list_buckets(self) -> list[Bucket]:
        """Ids and aliases only: quotas and counters need `get_bucket`."""
        return [Bucket(b["id"], tuple(b.get("globalAliases", ())), Quotas(), created=b.get("created"))
                for b in self._call("GET", "ListBuckets")]

    def update_quotas(self, bucket_id: str, max_size: int | None, max_objects: int | None) -> Bucket:
        """Sets both quotas (None = unlimited): Garage replaces the pair."""
        body = {"quotas": {"maxSize": max_size, "maxObjects": max_objects}}
        return Bucket.from_api(self._call("POST", "UpdateBucket", params={"id": bucket_id}, json=body))

    def delete_bucket(self, bucket_id: str) -> None:
        """Raises GarageConflict (BucketNotEmpty) while objects remain."""
        self._call("POST", "DeleteBucket", params={"id": bucket_id})

    # ---- keys ----

    def create_key(self, name: str, can_create_buckets: bool = False) -> Key:
        """The new key, secret included (the only answer that always carries it)."""
        body = {"name": name, **({"allow": {"createBucket": True}} if can_create_buckets else {})}
        return Key.from_api(self._call("POST", "CreateKey", json=body))

    def find_key(self, name: str, show_secret: bool = False) -> Key | None:
        """The first key (by id) with exactly this name, or None."""
        match = next((k for k in self._call("GET", "ListKeys") if k.get("name") == name), None)
        return self.get_key(match["id"], show_secret) if match else None

    def get_key(self, key_id: str, show_secret: bool = False) -> Key:
        params = {"id": key_id, "showSecretKey": "true" if show_secret else "false"}
        return Key.from_api(self._call("GET", "GetKeyInfo", params=params))

    def list_keys(self) -> list[Key]:
        return [Key(k["id"], k.get("name", ""), expired=bool(k.get("expired")))
                for k in self._call("GET", "ListKeys")]

    def delete_key(self, key_id: str) -> None:
        self._call("POST", "DeleteKey", params={"id": key_id})

    # ---- permissions ----

    def allow(self, bucket_id: str, key_id: str, read: bool = True, write: bool = True, owner: bool = False) -> Bucket:
        return self._permissions("AllowBucketKey", bucket_id, key_id, read, write, owner)

    def deny(self, bucket_id: str, key_id: str, read: bool = True, write: bool = True, owner: bool = True) -> Bucket:
        """Withdraws the flagged rights (all of them by default)."""
        return self._permissions("DenyBucketKey", bucket_id, key_id, read, write, owner)

    def _permissions(self, op: str, bucket_id: str, key_id: str, read: bool, write: bool, owner: bool) -> Bucket:
        body = {"bucketId": bucket_id, "accessKeyId": key_id,
                "permissions": {"read": read, "write": write, "owner": owner}}
        return Bucket.from_api(self._call("POST", op, json=body))

    # ---- transport ----

    def _call(self, method: str, operation: str, params: dict | None = None, json: Any = None) -> Any:
        try:
            resp = self._http.request(method, f"/v2/{operation}", params=params, json=json)
        except httpx.TransportError as e:
            log.warning("garage %s: no answer (%s)", operation, type(e).__name__)
            raise GarageUnavailable(None, type(e).__name__, str(e)) from e
        log.debug("garage %s -> %s", operation, resp.status_code)
        if resp.is_success:
            return resp.json() if resp.content else None
        try:
            body = resp.json()
            code, message = body.get("code", ""), body.get("message", "")
        except ValueError:
            code, message = f"HTTP{resp.status_code}", resp.text[:200]
        cls = GarageUnavailable if resp.status_code >= 500 else _BY_STATUS.get(resp.status_code, GarageError)
        raise cls(resp.status_code, code, message)
