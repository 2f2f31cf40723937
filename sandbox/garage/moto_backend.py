"""The S3 data plane: moto's S3 server on a private port, spoken to in raw HTTP.

Moto's state lives in the Python process, shared by every moto server in it, so each sandbox
removes its buckets from moto when it stops.
"""

from __future__ import annotations

import http.client
import logging
import xml.etree.ElementTree as ET
from urllib.parse import quote

from moto.server import ThreadedMotoServer

# Moto ignores signatures but reads service and region from this header: always S3 in us-east-1.
_MOTO_AUTH = (
    "AWS4-HMAC-SHA256 Credential=garagesandbox/20000101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-connection", "host", "authorization", "expect",
               "content-length"}

Response = tuple[int, list[tuple[str, str]], bytes]


def quote_key(key: str) -> str:
    return quote(key, safe="-_.~/")


def _xml_texts(body: bytes, tag: str) -> list[str]:
    root = ET.fromstring(body)
    return [el.text or "" for el in root.iter() if el.tag.rsplit("}", 1)[-1] == tag]


class MotoS3:
    def __init__(self, host: str = "127.0.0.1") -> None:
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.WARNING)  # one access-log line per request otherwise
        self._server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
        self.host, self.port = host, 0

    def start(self) -> None:
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()

    def stop(self) -> None:
        self._server.stop()

    def request(
        self, method: str, target: str, headers: list[tuple[str, str]] = (), body: bytes = b""
    ) -> Response:
        """Send one request; `target` is the path and query as they go on the request line."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", f"{self.host}:{self.port}")
            conn.putheader("Authorization", _MOTO_AUTH)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            dropped = (_HOP_BY_HOP - {"content-length"}) | {"server", "date"}
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in dropped]
            return resp.status, out, data
        finally:
            conn.close()

    # ---- helpers for the sandbox's own bookkeeping ----

    def create_bucket(self, name: str) -> bool:
        """Create `name`; False if moto already has a bucket of that name."""
        if self.request("HEAD", f"/{name}")[0] == 200:
            return False
        status, _, body = self.request("PUT", f"/{name}")
        if status != 200:
            raise RuntimeError(f"moto refused bucket {name}: {status} {body[:200]!r}")
        return True

    def delete_bucket(self, name: str) -> None:
        """Empty and delete a bucket, multipart uploads included; missing is fine."""
        status, _, body = self.request("GET", f"/{name}?uploads")
        if status == 404:
            return
        if status == 200:
            root = ET.fromstring(body)
            for up in [el for el in root.iter() if el.tag.endswith("Upload")]:
                vals = {c.tag.rsplit("}", 1)[-1]: c.text or "" for c in up}
                self.request("DELETE", f"/{name}/{quote_key(vals['Key'])}?uploadId={quote(vals['UploadId'])}")
        while True:
            status, _, body = self.request("GET", f"/{name}?list-type=2")
            keys = _xml_texts(body, "Key") if status == 200 else []
            if not keys:
                break
            for key in keys:
                self.request("DELETE", f"/{name}/{quote_key(key)}")
        self.request("DELETE", f"/{name}")

    @staticmethod
    def seed(bucket: str, keys: list[str], data: bytes) -> None:
        """Write objects through moto's in-process store (this process's moto server serves it)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key in keys:
            backend.put_object(bucket, key, data)

    def put_object(self, bucket: str, key: str, data: bytes, content_type: str | None) -> None:
        headers = [("Content-Type", content_type)] if content_type else []
        status, _, body = self.request("PUT", f"/{bucket}/{quote_key(key)}", headers, data)
        if status != 200:
            raise RuntimeError(f"moto refused object {bucket}/{key}: {status} {body[:200]!r}")

    def stat_object(self, bucket: str, key: str, with_data: bool) -> tuple[int, str | None, bytes | None] | None:
        """(size, content type, bytes if asked) of an object, None if it is not there."""
        status, headers, body = self.request("GET" if with_data else "HEAD", f"/{bucket}/{quote_key(key)}")
        if status != 200:
            return None
        h = {k.lower(): v for k, v in headers}
        size = len(body) if with_data else int(h.get("content-length", 0))
        return size, h.get("content-type"), body if with_data else None

    @staticmethod
    def deleted_keys(delete_objects_request: bytes, delete_objects_response: bytes) -> list[str]:
        """The keys a DeleteObjects removed: those asked for minus those refused (a `Quiet` answer
        lists only the refusals)."""

        def keys(body: bytes, element: str) -> list[str]:
            return [
                (el.findtext("{*}Key") or el.findtext("Key") or "")
                for el in ET.fromstring(body).iter()
                if el.tag.rsplit("}", 1)[-1] == element
            ]

        refused = set(keys(delete_objects_response, "Error"))
        return [key for key in keys(delete_objects_request, "Object") if key not in refused]

    @staticmethod
    def upload_id(create_multipart_response: bytes) -> str:
        return next(el.text or "" for el in ET.fromstring(create_multipart_response).iter()
                    if el.tag.rsplit("}", 1)[-1] == "UploadId")
