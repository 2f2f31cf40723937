"""AWS Signature V4 checking as Garage does it (`api/common/signature/payload.rs`, `streaming.rs`).

Header and presigned-query authentication; payload hashes; signed `aws-chunked` bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from . import errors
from .errors import ApiError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_LONG_DATETIME = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Authorization:
    key_id: str
    scope: str
    signed_headers: tuple[str, ...]
    signature: str
    content_sha256: str
    date: datetime
    presigned: bool


def _parse_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, _LONG_DATETIME).replace(tzinfo=timezone.utc)
    except ValueError:
        raise errors.bad_request("Invalid date") from None


def _parse_credential(cred: str) -> tuple[str, str]:
    if "/" not in cred:
        raise errors.bad_request("Credentials does not contain '/' in authorization field")
    key_id, scope = cred.split("/", 1)
    return key_id, scope


def _signed_headers(value: str) -> tuple[str, ...]:
    return tuple(sorted(h.strip().lower() for h in value.split(";")))


def parse(headers: dict[str, str], query: list[tuple[str, str]]) -> Authorization | None:
    """The request's claimed authorization; None for an anonymous request."""
    q = {k.lower(): v for k, v in query}
    if "x-amz-algorithm" in q:
        return _parse_presigned(q)
    if "authorization" in headers:
        return _parse_header(headers)
    return None


def _parse_header(headers: dict[str, str]) -> Authorization:
    kind, _, rest = headers["authorization"].partition(" ")
    if not rest:
        raise errors.bad_request("Authorization field to short")
    if kind != ALGORITHM:
        raise errors.bad_request("Unsupported authorization method")
    params = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq:
            raise errors.bad_request("Field without value in authorization header")
        params[name] = value
    for needed in ("Credential", "SignedHeaders", "Signature"):
        if needed not in params:
            raise errors.bad_request(f"Could not find {needed} in Authorization field")
    if "x-amz-content-sha256" not in headers:
        raise errors.bad_request("Missing X-Amz-Content-Sha256 field")
    if "x-amz-date" not in headers:
        raise errors.bad_request("Missing X-Amz-Date field")
    date = _parse_date(headers["x-amz-date"])
    if datetime.now(timezone.utc) - date > timedelta(hours=24):
        raise errors.bad_request("Date is too old")
    key_id, scope = _parse_credential(params["Credential"])
    return Authorization(key_id, scope, _signed_headers(params["SignedHeaders"]), params["Signature"],
                         headers["x-amz-content-sha256"], date, presigned=False)


def _parse_presigned(q: dict[str, str]) -> Authorization:
    if q["x-amz-algorithm"] != ALGORITHM:
        raise errors.bad_request("Unsupported authorization method")
    for name in ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Expires"):
        if name.lower() not in q:
            raise errors.bad_request(f"{name} not found in query parameters")
    if not q["x-amz-expires"].isdigit():
        raise errors.bad_request("X-Amz-Expires is not a number")
    expires = int(q["x-amz-expires"])
    if expires > 7 * 24 * 3600:
        raise errors.bad_request("X-Amz-Expires may not exceed a week")
    if "x-amz-date" not in q:
        raise errors.bad_request("Missing X-Amz-Date field")
    date = _parse_date(q["x-amz-date"])
    if datetime.now(timezone.utc) - date > timedelta(seconds=expires):
        raise errors.bad_request("Date is too old")
    key_id, scope = _parse_credential(q["x-amz-credential"])
    return Authorization(key_id, scope, _signed_headers(q["x-amz-signedheaders"]), q["x-amz-signature"],
                         UNSIGNED_PAYLOAD, date, presigned=True)


def check_scope(auth: Authorization, region: str) -> None:
    if auth.scope != f"{auth.date:%Y%m%d}/{region}/s3/aws4_request":
        raise ApiError(400, "AuthorizationHeaderMalformed",
                       f"Authorization header malformed, unexpected scope: {auth.scope}")


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_request(
    auth: Authorization, method: str, raw_path: str, query: list[tuple[str, str]], headers: dict[str, str]
) -> str:
    if "host" not in auth.signed_headers:
        raise errors.bad_request("Header `Host` should be signed")
    for name in headers:
        if name.startswith("x-amz-") and name not in auth.signed_headers:
            raise errors.bad_request(f"Header `{name}` should be signed")
    pairs = [(k, v) for k, v in query if not (auth.presigned and k.lower() == "x-amz-signature")]
    canonical_query = "&".join(sorted(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in pairs))
    lines = []
    for name in auth.signed_headers:
        if name not in headers:
            raise errors.bad_request(f"signed header `{name}` is not present")
        lines.append(f"{name}:{headers[name].strip()}")
    # S3 paths are not URI-encoded a second time: the path is taken as sent.
    return "\n".join([method, raw_path, canonical_query, "\n".join(lines), "",
                      ";".join(auth.signed_headers), auth.content_sha256])


def _signing_key(secret: str, date: datetime, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (f"{date:%Y%m%d}", region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def verify_signature(auth: Authorization, secret: str, region: str, canonical: str) -> None:
    to_sign = "\n".join([ALGORITHM, f"{auth.date:{_LONG_DATETIME}}", auth.scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    expected = _sign(_signing_key(secret, auth.date, region), to_sign)
    if not re.fullmatch(r"[0-9a-fA-F]+", auth.signature) or not hmac.compare_digest(expected, auth.signature.lower()):
        raise errors.forbidden("Invalid signature")


def verify_payload(auth: Authorization, secret: str, region: str, body: bytes) -> None:
    """Check the body against what `x-amz-content-sha256` promised."""
    declared = auth.content_sha256
    if declared == UNSIGNED_PAYLOAD:
        return
    if declared.startswith("STREAMING-"):
        algo = declared[len("STREAMING-"):].removesuffix("-TRAILER")
        if algo == "AWS4-HMAC-SHA256-PAYLOAD":
            _verify_chunks(auth, _signing_key(secret, auth.date, region), body)
        elif algo != UNSIGNED_PAYLOAD:
            raise errors.bad_request("invalid or unsupported x-amz-content-sha256")
        return
    if not re.fullmatch(r"[0-9a-fA-F]{64}", declared):
        raise errors.bad_request("Invalid content sha256 hash")
    if hashlib.sha256(body).hexdigest() != declared.lower():
        raise ApiError(400, "InvalidDigest",
                       "Invalid digest: SHA256 checksum verification failed (from x-amz-content-sha256)")


def _verify_chunks(auth: Authorization, key: bytes, body: bytes) -> None:
    """`aws-chunked` with a signature on every chunk, each chained to the one before."""
    previous, pos = auth.signature, 0
    while True:
        eol = body.find(b"\r\n", pos)
        header = body[pos:eol].decode("latin-1") if eol >= 0 else ""
        m = re.fullmatch(r"([0-9a-fA-F]+);chunk-signature=([0-9a-f]{64})", header)
        if not m:
            raise errors.bad_request("Chunk format error: bad chunk header")
        size = int(m.group(1), 16)
        data = body[eol + 2:eol + 2 + size]
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", f"{auth.date:{_LONG_DATETIME}}", auth.scope,
                             previous, _EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
        if not hmac.compare_digest(_sign(key, to_sign), m.group(2)):
            raise errors.bad_request("Invalid payload signature")
        previous, pos = m.group(2), eol + 2 + size + 2
        if size == 0:
            return
