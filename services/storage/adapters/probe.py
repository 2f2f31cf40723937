"""Proves a bucket is usable with a key, through the S3 API (boto3): read, write, read back, delete.

A refusal becomes `ProbeFailed` with a reason an operator or provider can act on; an endpoint
that does not answer, or fails on its side, is `Unavailable` (worth trying again later).
"""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from ..domain import Refused, Unavailable
from . import s3 as s3_plane

MARKER = ".fediversity/provisioned"
SCRATCH = ".fediversity/probe"


class ProbeFailed(Refused):
    pass


def probe_bucket(endpoint: str, region: str, bucket: str, key_id: str, secret: str, marker: bool = True) -> None:
    """List, write and read back a scratch object, delete it. With `marker`, a small object saying
    who provisioned the bucket is left behind (storage's own buckets only)."""
    s3 = s3_plane.client(endpoint, region, key_id, secret)
    body = f"provisioned by the Fediversity control plane at {datetime.now(UTC).isoformat()}\n".encode()
    step = "read"
    try:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
        step = "write"
        s3.put_object(Bucket=bucket, Key=SCRATCH, Body=body)
        step = "read back"
        if s3.get_object(Bucket=bucket, Key=SCRATCH)["Body"].read() != body:
            raise ProbeFailed(f"bucket {bucket} at {endpoint} returned different bytes than were written")
        step = "delete"
        s3.delete_object(Bucket=bucket, Key=SCRATCH)
        if marker:
            step = "write"
            s3.put_object(Bucket=bucket, Key=MARKER, Body=body)
    except ClientError as exc:
        error = s3_plane.classify(exc, "")
        if isinstance(error, Unavailable):
            raise Unavailable(f"bucket {bucket} at {endpoint}: {_said(exc)}") from None
        raise ProbeFailed(f"bucket {bucket} at {endpoint} cannot be used with key {key_id}: "
                          f"{_meaning(exc, bucket, key_id, step)} ({_said(exc)})") from None
    except BotoCoreError as exc:
        raise s3_plane.classify(exc, f"bucket {bucket} at {endpoint}") from None


def _said(exc: ClientError) -> str:
    status, code, message = s3_plane.error_code(exc)
    return f"the endpoint answered {status} {code}" + (f": {message}" if message else "")


def _meaning(exc: ClientError, bucket: str, key_id: str, step: str) -> str:
    """What a refusal means, from the codes Garage, MinIO and AWS use."""
    status, code, message = s3_plane.error_code(exc)
    text = f"{code} {message}".lower()
    if code == "NoSuchBucket" or status == 404 and step == "read":
        return "the bucket does not exist"
    if code == "InvalidAccessKeyId" or "no such key" in text:
        return f"the endpoint does not know access key {key_id}"
    if code == "SignatureDoesNotMatch" or "invalid signature" in text:
        return f"the secret given for access key {key_id} is wrong"
    if "quota" in text:
        return "the bucket is full (its quota is reached)"
    if status == 403:
        return f"access key {key_id} is not allowed to {step} bucket {bucket}"
    return f"the {step} failed"
