"""The S3 endpoint clients use: Garage's checks in front of moto, which holds the bytes.

Order as in Garage's `api/s3/api_server.rs`: signature (unknown key -> 403 `No such key`, bad
signature -> 403) -> CreateBucket's own path -> resolve the bucket (404 NoSuchBucket) -> the key's
right on it (403 `Operation is not allowed for this key.`) -> quotas on PutObject and
CompleteMultipartUpload -> moto. Path-style addressing only (Garage without `root_domain`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote
from xml.sax.saxutils import escape

from . import errors, sigv4
from .cluster import Cluster
from .errors import ApiError
from .http_util import Handler
from .moto_backend import quote_key
from .state import AccessKey, Bucket, Perm, Upload, rfc3339

_READ = {
    "GetBucketAcl", "GetBucketLifecycleConfiguration", "GetBucketLocation", "GetBucketVersioning",
    "GetObject", "GetObjectAcl", "GetObjectTagging", "HeadBucket", "HeadObject",
    "ListMultipartUploads", "ListObjects", "ListObjectsV2", "ListObjectVersions", "ListParts",
}
_OWNER = {"DeleteBucket", "GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite",
          "GetBucketCors", "PutBucketCors", "DeleteBucketCors"}
_SUBRESOURCES = {  # bucket-level query flag -> (GET, PUT, DELETE) action
    "cors": ("GetBucketCors", "PutBucketCors", "DeleteBucketCors"),
    "website": ("GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    "lifecycle": ("GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle"),
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", None),
    "acl": ("GetBucketAcl", None, None),
    "location": ("GetBucketLocation", None, None),
    "uploads": ("ListMultipartUploads", None, None),
    "versions": ("ListObjectVersions", None, None),
}
_PRESIGN_PARAMS = {"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
                   "x-amz-signedheaders", "x-amz-signature"}


def action_of(method: str, has_key: bool, q: dict[str, str], headers: dict[str, str]) -> str:
    """The S3 action a path-style request asks for (Garage's `s3::router::Endpoint`)."""
    copy = "x-amz-copy-source" in headers
    if has_key:
        by_method = {
            "GET": "ListParts" if "uploadId" in q else "GetObjectTagging" if "tagging" in q
            else "GetObjectAcl" if "acl" in q else "GetObject",
            "HEAD": "HeadObject",
            "PUT": ("UploadPartCopy" if copy else "UploadPart") if "uploadId" in q and "partNumber" in q
            else "PutObjectTagging" if "tagging" in q else "CopyObject" if copy else "PutObject",
            "DELETE": "AbortMultipartUpload" if "uploadId" in q
            else "DeleteObjectTagging" if "tagging" in q else "DeleteObject",
            "POST": "CreateMultipartUpload" if "uploads" in q
            else "CompleteMultipartUpload" if "uploadId" in q else None,
        }
    else:
        column = {"GET": 0, "PUT": 1, "DELETE": 2}.get(method)
        sub = next((_SUBRESOURCES[f] for f in q if f in _SUBRESOURCES and column is not None), None)
        if sub is not None and sub[column] is not None:
            return sub[column]
        by_method = {
            "GET": "ListObjectsV2" if q.get("list-type") == "2" else "ListObjects",
            "HEAD": "HeadBucket",
            "PUT": "CreateBucket",
            "DELETE": "DeleteBucket",
            "POST": "DeleteObjects" if "delete" in q else None,
        }
    action = by_method.get(method)
    if action is None:
        raise errors.bad_request(f"Invalid endpoint: {method} {'object' if has_key else 'bucket'} request")
    return action


def allowed(action: str, perm: Perm) -> bool:
    if action in _READ:
        return perm.read
    if action in _OWNER:
        return perm.owner
    return perm.write


def _quiet(delete_request: bytes) -> bool:
    try:
        root = ET.fromstring(delete_request)
    except ET.ParseError:
        return False
    return any(el.tag.rsplit("}", 1)[-1] == "Quiet" and (el.text or "").strip() == "true" for el in root.iter())


def error_xml(e: ApiError, resource: str, region: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{escape(e.code)}</Code><Message>{escape(e.message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><Region>{escape(region)}</Region></Error>"
    ).encode()


@dataclass
class Request:
    method: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names, first value
    body: bytes
    bucket_name: str | None
    key: str | None
    rest: str  # raw path after the bucket segment


class S3Handler(Handler):
    @property
    def cluster(self) -> Cluster:
        return self.server.app

    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _request(self) -> Request:
        raw_path, _, qs = self.path.partition("?")
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), value)
        segment, slash, rest = raw_path.lstrip("/").partition("/")
        key = unquote(rest) if rest else None
        return Request(self.command, raw_path, parse_qsl(qs, keep_blank_values=True), headers,
                       self.read_body(), unquote(segment) or None, key, slash + rest)

    def _serve(self) -> None:
        raw_path = self.path.partition("?")[0]
        try:
            req = self._request()
            status, headers, body = self._handle(req)
            self.respond(status, body, headers=headers)
        except ApiError as e:
            self.respond(e.status, error_xml(e, raw_path, self.cluster.region), "application/xml")
        except Exception as e:  # noqa: BLE001 - a stand-in bug must still answer, as Garage would
            err = errors.internal(f"{type(e).__name__}: {e}")
            self.respond(500, error_xml(err, raw_path, self.cluster.region), "application/xml")

    def _authenticate(self, req: Request) -> tuple[AccessKey, sigv4.Authorization]:
        auth = sigv4.parse(req.headers, req.query)
        if auth is None:
            raise errors.forbidden("Garage does not support anonymous access yet")
        sigv4.check_scope(auth, self.cluster.region)
        key = self.cluster.state.keys.get(auth.key_id)
        if key is None:
            raise errors.forbidden(f"No such key: {auth.key_id}")
        if key.expired():
            raise errors.forbidden(f"Access key {key.id} has expired")
        canonical = sigv4.canonical_request(auth, req.method, req.raw_path, req.query, req.headers)
        sigv4.verify_signature(auth, key.secret, self.cluster.region, canonical)
        return key, auth

    def _handle(self, req: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        q = dict(req.query)
        action = "ListBuckets" if req.bucket_name is None else action_of(req.method, bool(req.key), q, req.headers)
        if req.bucket_name is None and req.method != "GET":
            raise errors.bad_request(f"Invalid endpoint: {req.method} /")
        key, auth = self._authenticate(req)
        c = self.cluster

        def check_payload() -> None:  # Garage checks the body as it reads it, after the rights
            sigv4.verify_payload(auth, key.secret, c.region, req.body)

        if action == "ListBuckets":
            c.faults.check("s3:ListBuckets")
            return 200, [("Content-Type", "application/xml")], self._list_buckets(key)
        if action == "CreateBucket":
            c.faults.check("s3:CreateBucket")
            check_payload()
            return self._create_bucket(req, key)
        with c.state.lock:
            bucket = c.state.resolve(req.bucket_name, key.id)
            perm = c.state.permission(bucket, key.id)
        if not allowed(action, perm):
            raise errors.forbidden("Operation is not allowed for this key.")
        c.faults.check(f"s3:{action}")
        check_payload()
        if action == "DeleteBucket":
            c.delete_bucket(bucket.id)
            return 204, [], b""
        headers, copy_size = list(self.headers.items()), 0
        if action in ("CopyObject", "UploadPartCopy"):
            headers, copy_size = self._copy_source(req, key, headers)
        if action == "PutObject":
            size = int(req.headers.get("x-amz-decoded-content-length") or len(req.body))
            with c.state.lock:
                c.state.check_quota(bucket, req.key, size)
        if action == "CompleteMultipartUpload":
            self._check_multipart_quota(req, bucket, q["uploadId"])
        status, out_headers, body = self._forward(req, bucket, headers)
        if 200 <= status < 300:
            self._after(action, req, bucket, key, body, copy_size)
            if action == "DeleteObjects" and _quiet(req.body):
                # Garage lists only the failures of a quiet DeleteObjects; moto lists everything.
                body = re.sub(rb"<Deleted>.*?</Deleted>", b"", body, flags=re.S)
                out_headers = [(k, v) for k, v in out_headers if k.lower() != "content-length"]
        return status, out_headers, body

    # ---- the parts Garage does itself ----

    def _list_buckets(self, key: AccessKey) -> bytes:
        state = self.cluster.state
        with state.lock:
            names = []
            for b in state.buckets.values():
                if state.permission(b, key.id).any():
                    names += [(a, b) for a in b.global_aliases]
                names += [(a, b) for k, a in b.local_aliases if k == key.id]
            entries = "".join(
                f"<Bucket><Name>{escape(n)}</Name><CreationDate>{rfc3339(b.created)}</CreationDate></Bucket>"
                for n, b in sorted(names, key=lambda x: x[0])
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Owner><ID>{key.id}</ID><DisplayName>{escape(key.name)}</DisplayName></Owner>"
            f"<Buckets>{entries}</Buckets></ListAllMyBucketsResult>"
        ).encode()

    def _create_bucket(self, req: Request, key: AccessKey) -> tuple[int, list, bytes]:
        c, name = self.cluster, req.bucket_name
        if req.body.strip():
            try:
                lc = next((el.text for el in ET.fromstring(req.body).iter() if el.tag.endswith("LocationConstraint")), None)
            except ET.ParseError:
                raise errors.bad_request("Invalid create bucket XML query") from None
            if lc and lc != c.region:
                raise errors.bad_request(
                    f"Cannot satisfy location constraint `{lc}`: buckets can only be created in region `{c.region}`")
        with c.state.lock:
            try:
                existing = c.state.resolve(name, key.id)
            except ApiError:
                existing = None
            if existing is not None:
                perm = c.state.permission(existing, key.id)
                if not (perm.write or perm.owner):
                    raise errors.bucket_already_exists()
            elif not key.create_bucket:
                raise errors.forbidden(f"Access key {key.id} is not allowed to create buckets")
            else:
                c.create_bucket(None, (key.id, name), Perm(True, True, True))
        return 200, [("Location", f"/{name}")], b""

    def _copy_source(self, req: Request, key: AccessKey, headers: list) -> tuple[list, int]:
        source = unquote(req.headers["x-amz-copy-source"]).lstrip("/").split("?", 1)[0]
        src_bucket_name, _, src_key = source.partition("/")
        with self.cluster.state.lock:
            src = self.cluster.state.resolve(src_bucket_name, key.id)
            if not self.cluster.state.permission(src, key.id).read:
                raise errors.forbidden("Operation is not allowed for this key.")
            size = src.objects[src_key].size if src_key in src.objects else 0
        rewritten = f"/{src.moto_name}/{quote_key(src_key)}"
        return [(n, rewritten if n.lower() == "x-amz-copy-source" else v) for n, v in headers], size

    def _check_multipart_quota(self, req: Request, bucket: Bucket, upload_id: str) -> None:
        try:
            numbers = [int(el.text) for el in ET.fromstring(req.body).iter() if el.tag.endswith("PartNumber")]
        except (ET.ParseError, TypeError, ValueError):
            return  # moto answers MalformedXML
        c = self.cluster
        with c.state.lock:
            upload = c.state.uploads.get(upload_id)
            sizes = upload.parts if upload else {}
            try:
                c.state.check_quota(bucket, req.key, sum(sizes.get(n, 0) for n in numbers))
            except ApiError:
                # Garage aborts the upload when its completion would exceed the quota.
                c.state.uploads.pop(upload_id, None)
                c.moto.request("DELETE", f"/{bucket.moto_name}/{quote_key(req.key)}?uploadId={quote(upload_id)}")
                raise

    def _forward(self, req: Request, bucket: Bucket, headers: list) -> tuple[int, list, bytes]:
        query = [(k, v) for k, v in req.query if k.lower() not in _PRESIGN_PARAMS]
        qs = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" if v else quote(k, safe="-_.~")
                      for k, v in query)
        target = f"/{bucket.moto_name}{req.rest}" + (f"?{qs}" if qs else "")
        status, out_headers, body = self.cluster.moto.request(req.method, target, headers, req.body)
        if bucket.moto_name != req.bucket_name and body:
            # Moto names its own bucket in list and multipart answers; show the client's name.
            for tag in (b"Name", b"Bucket"):
                body = body.replace(b"<%s>%s</%s>" % (tag, bucket.moto_name.encode(), tag),
                                    b"<%s>%s</%s>" % (tag, escape(req.bucket_name).encode(), tag))
            out_headers = [(k, v) for k, v in out_headers if k.lower() != "content-length"]
        return status, out_headers, body

    def _after(self, action: str, req: Request, bucket: Bucket, key: AccessKey, body: bytes, copy_size: int) -> None:
        c, q = self.cluster, dict(req.query)
        if action == "PutObject":
            size = int(req.headers.get("x-amz-decoded-content-length") or len(req.body))
            c.object_written(bucket, req.key, key.id, size, req.headers.get("content-type"))
        elif action in ("CopyObject", "CompleteMultipartUpload"):
            c.object_written(bucket, req.key, key.id)
        elif action == "DeleteObject":
            c.objects_deleted(bucket, [req.key])
        elif action == "DeleteObjects":
            c.objects_deleted(bucket, c.moto.deleted_keys(req.body, body))
        if action == "CreateMultipartUpload":
            with c.state.lock:
                c.state.uploads[c.moto.upload_id(body)] = Upload(bucket.id, req.key)
        elif action in ("UploadPart", "UploadPartCopy"):
            size = (copy_size if action == "UploadPartCopy"
                    else int(req.headers.get("x-amz-decoded-content-length") or len(req.body)))
            with c.state.lock:
                upload = c.state.uploads.setdefault(q["uploadId"], Upload(bucket.id, req.key))
                upload.parts[int(q["partNumber"])] = size
        elif action in ("CompleteMultipartUpload", "AbortMultipartUpload"):
            with c.state.lock:
                c.state.uploads.pop(q["uploadId"], None)
