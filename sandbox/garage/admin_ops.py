"""Garage admin API v2 operations and the JSON they answer (`api/admin/{bucket,key,cluster}.rs`).

Each operation takes (cluster, query parameters, parsed JSON body) and returns what goes out as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from . import errors
from .cluster import Cluster
from .state import AccessKey, Bucket, GarageState, Perm, rfc3339


def _perm(p: Perm) -> dict:
    return {"read": p.read, "write": p.write, "owner": p.owner}


def _perm_from(d: dict | None) -> Perm:
    d = d or {}
    return Perm(bool(d.get("read")), bool(d.get("write")), bool(d.get("owner")))


def bucket_info(state: GarageState, b: Bucket) -> dict:
    key_ids = list(b.perms) + [k for k, _ in b.local_aliases if k not in b.perms]
    uploads = state.uploads_of(b.id)
    return {
        "id": b.id,
        "created": rfc3339(b.created),
        "globalAliases": list(b.global_aliases),
        "websiteAccess": b.website is not None,
        "websiteConfig": dict(b.website) if b.website else None,
        "keys": [
            {
                "accessKeyId": k,
                "name": state.keys[k].name,
                "permissions": _perm(state.permission(b, k)),
                "bucketLocalAliases": [a for kk, a in b.local_aliases if kk == k],
            }
            for k in key_ids if k in state.keys
        ],
        "objects": len(b.objects),
        "bytes": b.used_bytes(),
        "unfinishedUploads": len(uploads),
        "unfinishedMultipartUploads": len(uploads),
        "unfinishedMultipartUploadParts": sum(len(u.parts) for u in uploads),
        "unfinishedMultipartUploadBytes": sum(sum(u.parts.values()) for u in uploads),
        "quotas": {"maxSize": b.max_size, "maxObjects": b.max_objects},
    }


def key_info(state: GarageState, k: AccessKey, show_secret: bool) -> dict:
    out = {
        "accessKeyId": k.id,
        "created": rfc3339(k.created),
        "name": k.name,
        "expiration": rfc3339(k.expiration),
        "expired": k.expired(),
    }
    if show_secret:
        out["secretAccessKey"] = k.secret
    out["permissions"] = {"createBucket": k.create_bucket}
    out["buckets"] = [
        {
            "id": b.id,
            "globalAliases": list(b.global_aliases),
            "localAliases": [a for kk, a in b.local_aliases if kk == k.id],
            "permissions": _perm(state.permission(b, k.id)),
        }
        for b in state.buckets_of_key(k.id)
    ]
    return out


# ---- operations ----

def _one_of(query: dict, names: tuple[str, ...], message: str) -> tuple[str, str]:
    given = [(n, query[n]) for n in names if n in query]
    if len(given) != 1:
        raise errors.bad_request(message)
    return given[0]


def get_bucket_info(c: Cluster, query: dict, body: None) -> dict:
    how, value = _one_of(query, ("id", "globalAlias", "search"),
                         "Either id, globalAlias or search must be provided (but not several of them)")
    with c.state.lock:
        if how == "id":
            b = c.state.bucket(value)
        elif how == "globalAlias":
            b = c.state.bucket_by_global_alias(value)
            if b is None:
                raise errors.no_such_bucket(value)
        else:
            b = c.state.search_bucket(value)
        return bucket_info(c.state, b)


def list_buckets(c: Cluster, query: dict, body: None) -> list:
    with c.state.lock:
        return [
            {
                "id": b.id,
                "created": rfc3339(b.created),
                "globalAliases": list(b.global_aliases),
                "localAliases": [{"accessKeyId": k, "alias": a} for k, a in b.local_aliases],
            }
            for b in sorted(c.state.buckets.values(), key=lambda b: b.id)
        ]


def create_bucket(c: Cluster, query: dict, body: dict) -> dict:
    local = body.get("localAlias")
    b = c.create_bucket(
        body.get("globalAlias"),
        (local["accessKeyId"], local["alias"]) if local else None,
        _perm_from(local.get("allow")) if local else None,
    )
    with c.state.lock:
        return bucket_info(c.state, b)


def update_bucket(c: Cluster, query: dict, body: dict) -> dict:
    with c.state.lock:
        b = c.state.bucket(query["id"])
        website = body.get("websiteAccess")
        if website is not None:
            if website["enabled"]:
                if website.get("indexDocument") is None:
                    raise errors.bad_request("Please specify indexDocument when enabling website access.")
                b.website = {"indexDocument": website["indexDocument"], "errorDocument": website.get("errorDocument")}
            elif website.get("indexDocument") is not None or website.get("errorDocument") is not None:
                raise errors.bad_request(
                    "Cannot specify indexDocument or errorDocument when disabling website access.")
            else:
                b.website = None
        quotas = body.get("quotas")
        if quotas is not None:
            c.state.set_quotas(b.id, quotas.get("maxSize"), quotas.get("maxObjects"))
        c.save()
        return bucket_info(c.state, b)


def delete_bucket(c: Cluster, query: dict, body: None) -> None:
    c.delete_bucket(query["id"])


def _apply_key_updates(k: AccessKey, body: dict) -> None:
    if body.get("neverExpires") and body.get("expiration") is not None:
        raise errors.bad_request("cannot specify `expiration` and `never_expires`")
    if body.get("name") is not None:
        k.name = body["name"]
    if body.get("expiration") is not None:
        try:
            when = datetime.fromisoformat(body["expiration"])
        except ValueError:
            raise errors.bad_request("Invalid JSON: invalid value for `expiration`") from None
        k.expiration = int(when.timestamp() * 1000)
    if body.get("neverExpires"):
        k.expiration = None
    if (body.get("allow") or {}).get("createBucket"):
        k.create_bucket = True
    if (body.get("deny") or {}).get("createBucket"):
        k.create_bucket = False


def create_key(c: Cluster, query: dict, body: dict) -> dict:
    with c.state.lock:
        probe = AccessKey(id="", name="Unnamed key", secret="")
        _apply_key_updates(probe, body)  # refuse bad input before creating anything
        k = c.state.create_key(probe.name, probe.create_bucket)
        k.expiration = probe.expiration
        c.save()
        return key_info(c.state, k, show_secret=True)


def update_key(c: Cluster, query: dict, body: dict) -> dict:
    with c.state.lock:
        k = c.state.key(query["id"])
        _apply_key_updates(k, body)
        c.save()
        return key_info(c.state, k, show_secret=False)


def get_key_info(c: Cluster, query: dict, body: None) -> dict:
    how, value = _one_of(query, ("id", "search"), "Either id or search must be provided (but not both)")
    show = query.get("showSecretKey", "false")
    if show not in ("true", "false"):
        raise errors.bad_request("Failed to parse query parameter")
    with c.state.lock:
        k = c.state.key(value) if how == "id" else c.state.search_key(value)
        return key_info(c.state, k, show_secret=show == "true")


def list_keys(c: Cluster, query: dict, body: None) -> list:
    with c.state.lock:
        return [
            {"id": k.id, "name": k.name, "created": rfc3339(k.created),
             "expiration": rfc3339(k.expiration), "expired": k.expired()}
            for k in sorted(c.state.keys.values(), key=lambda k: k.id)
        ]


def delete_key(c: Cluster, query: dict, body: None) -> None:
    with c.state.lock:
        c.state.delete_key(query["id"])
        c.save()


def _change_permissions(allow: bool) -> Callable:
    def change(c: Cluster, query: dict, body: dict) -> dict:
        with c.state.lock:
            b = c.state.change_permissions(body["bucketId"], body["accessKeyId"], _perm_from(body["permissions"]), allow)
            c.save()
            return bucket_info(c.state, b)
    return change


def get_cluster_health(c: Cluster, query: dict, body: None) -> dict:
    return {"status": "healthy", "knownNodes": 1, "connectedNodes": 1, "storageNodes": 1,
            "storageNodesOk": 1, "partitions": 256, "partitionsQuorum": 256, "partitionsAllOk": 256}


@dataclass(frozen=True)
class Route:
    method: str
    run: Callable
    required: tuple[str, ...] = ()  # query parameters
    body: str | None = None  # request schema in the OpenAPI document


ROUTES = {
    "GetClusterHealth": Route("GET", get_cluster_health),
    "ListBuckets": Route("GET", list_buckets),
    "GetBucketInfo": Route("GET", get_bucket_info),
    "CreateBucket": Route("POST", create_bucket, body="CreateBucketRequest"),
    "UpdateBucket": Route("POST", update_bucket, ("id",), body="UpdateBucketRequestBody"),
    "DeleteBucket": Route("POST", delete_bucket, ("id",)),
    "ListKeys": Route("GET", list_keys),
    "GetKeyInfo": Route("GET", get_key_info),
    "CreateKey": Route("POST", create_key, body="UpdateKeyRequestBody"),
    "UpdateKey": Route("POST", update_key, ("id",), body="UpdateKeyRequestBody"),
    "DeleteKey": Route("POST", delete_key, ("id",)),
    "AllowBucketKey": Route("POST", _change_permissions(True), body="BucketKeyPermChangeRequest"),
    "DenyBucketKey": Route("POST", _change_permissions(False), body="BucketKeyPermChangeRequest"),
}
