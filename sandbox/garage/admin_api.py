"""Garage admin API v2 (`/v2/<Operation>`, ids in the query string), as `api/admin/*.rs` answers it.

Order as in Garage's router: parse the request (endpoint, JSON body, query) -> check the bearer
token -> run. So a malformed request gets its 400 even without a token.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from . import errors, openapi
from .cluster import Cluster
from .errors import ApiError
from .http_util import Handler
from .state import AccessKey, Bucket, GarageState, Perm, rfc3339


def _perm(p: Perm) -> dict:
    return {"read": p.read, "write": p.write, "owner": p.owner}


def _perm_from(d: dict | None) -> Perm:
    d = d or {}
    return Perm(bool(d.get("read")), bool(d.get("write")), bool(d.get("owner")))


def bucket_info(state: GarageState, b: Bucket) -> dict:
    key_ids = list(b.perms) + [k for k, _ in b.local_aliases if k not in b.perms]
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
        "unfinishedUploads": 0,
        "unfinishedMultipartUploads": 0,
        "unfinishedMultipartUploadParts": 0,
        "unfinishedMultipartUploadBytes": 0,
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


# ---- operations: (cluster, query, body) -> JSON-able answer ----

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

_HEALTHY = b"Garage is fully operational\nConsult the full health check API endpoint at /v2/GetClusterHealth for more details\n"
_UNAVAILABLE = (b"Quorum is not available for some/all partitions, reads and writes will fail\n"
                b"Consult the full health check API endpoint at /v2/GetClusterHealth for more details\n")


class AdminHandler(Handler):
    @property
    def cluster(self) -> Cluster:
        return self.server.app

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        path, _, qs = self.path.partition("?")
        try:
            if path == "/sandbox/inventory" and self.command == "GET":
                return self._json(self.cluster.state.inventory())
            if path == "/health" and self.command == "GET":
                return self._health()
            self._json(self._operation(path, qs))
        except ApiError as e:
            body = {"code": e.code, "message": e.message, "region": self.cluster.region, "path": path}
            self.respond(e.status, json.dumps(body, indent=2).encode(), "application/json")

    def _health(self) -> None:
        try:
            self.cluster.faults.check("Health")
            self.respond(200, _HEALTHY, "text/plain")
        except ApiError:
            self.respond(503, _UNAVAILABLE, "text/plain")

    def _operation(self, path: str, qs: str) -> object:
        name = path.removeprefix("/v2/") if path.startswith("/v2/") else None
        route = ROUTES.get(name)
        if route is None or route.method != self.command:
            self.read_body()
            if name is not None and self._documented(name):
                raise ApiError(501, "NotImplemented", f"The Garage sandbox does not implement {name}")
            raise errors.bad_request(f"Unknown API endpoint: {self.command} {path}")
        raw = self.read_body()
        body = self._parse_body(raw, route.body) if route.body else None
        query = dict(parse_qsl(qs, keep_blank_values=True))
        for param in route.required:
            if param not in query:
                raise errors.bad_request(f"Missing argument `{param}` for endpoint")
        self._authorize()
        self.cluster.faults.check(name)
        return route.run(self.cluster, query, body)

    def _documented(self, name: str) -> bool:
        try:
            return openapi.operation(name)[0] == self.command
        except KeyError:
            return False

    @staticmethod
    def _parse_body(raw: bytes, schema: str) -> dict:
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise errors.bad_request(f"Invalid JSON: {e}") from None
        problems = openapi.problems(body, openapi.component(schema))
        if problems:
            raise errors.bad_request(f"Invalid JSON: {problems[0]}")
        return body

    def _authorize(self) -> None:
        header = self.headers.get("Authorization")
        if header is None:
            raise errors.forbidden("Bearer token must be provided in Authorization header")
        if not header.startswith("Bearer "):
            raise errors.forbidden("Invalid Authorization header")
        token = header.removeprefix("Bearer ").strip()
        if not hmac.compare_digest(token.encode(), self.cluster.admin_token.encode()):
            raise errors.forbidden("Invalid bearer token")

    def _json(self, value: object) -> None:
        self.respond(200, json.dumps(value, indent=2).encode(), "application/json",
                     [("Access-Control-Allow-Origin", "*")])

