"""The S3 data plane through boto3: clients, emptying a bucket, counting what it holds, and turning
botocore's errors into storage's `Refused` / `Unavailable`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from ..domain import Refused, Unavailable, Usage

BATCH = 1000
"""S3's largest DeleteObjects request and listing page."""

_TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling"}
T = TypeVar("T")


def client(endpoint: str, region: str, key_id: str, secret: str, attempts: int = 3):  # noqa: ANN201
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": attempts, "mode": "standard"}),
    )


def error_code(exc: ClientError) -> tuple[int, str, str]:
    """(HTTP status, S3 error code, message) of a refusal."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    error = exc.response.get("Error", {})
    return status, str(error.get("Code", status)), str(error.get("Message", ""))


def classify(exc: Exception, doing: str) -> Exception:
    """botocore's error as `Unavailable` (try again later) or `Refused` (never will work)."""
    if isinstance(exc, ClientError):
        status, code, message = error_code(exc)
        text = f"{doing}: {code}: {message}".rstrip(": ")
        return Unavailable(text) if status >= 500 or code in _TRANSIENT_CODES else Refused(text)
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return Unavailable(f"{doing}: S3 endpoint did not answer ({type(exc).__name__})")
    return Refused(f"{doing}: {exc}")


@contextmanager
def translated(doing: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise classify(exc, doing) from None


def _pages(call: Callable[..., dict], marker_fields: dict[str, str], **params) -> Iterator[dict]:
    """Every page of a paged S3 listing; `marker_fields` maps request parameter -> answer field."""
    while True:
        page = call(**params)
        yield page
        if not page.get("IsTruncated"):
            return
        params |= {param: page[field] for param, field in marker_fields.items() if page.get(field)}


def list_objects(s3, bucket: str) -> Iterator[dict]:  # noqa: ANN001
    for page in _pages(s3.list_objects_v2, {"ContinuationToken": "NextContinuationToken"}, Bucket=bucket, MaxKeys=BATCH):
        yield from page.get("Contents", ())


def abort_uploads(s3, bucket: str) -> int:  # noqa: ANN001
    """Abort every unfinished multipart upload; returns how many there were."""
    uploads = [
        (upload["Key"], upload["UploadId"])
        for page in _pages(
            s3.list_multipart_uploads,
            {"KeyMarker": "NextKeyMarker", "UploadIdMarker": "NextUploadIdMarker"},
            Bucket=bucket,
            MaxUploads=BATCH,
        )
        for upload in page.get("Uploads", ())
    ]
    for key, upload_id in uploads:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    return len(uploads)


def empty(s3, bucket: str) -> int:  # noqa: ANN001
    """Abort multipart uploads, then delete every object in batches of 1000; returns objects removed.

    Each round lists from the start again, so objects written meanwhile are removed too."""
    with translated(f"emptying bucket {bucket}"):
        abort_uploads(s3, bucket)
        removed = 0
        while True:
            batch = [{"Key": obj["Key"]} for obj in _first(list_objects(s3, bucket), BATCH)]
            if not batch:
                return removed
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors = answer.get("Errors", ())
            if errors:
                first = errors[0]
                text = f"emptying bucket {bucket}: {len(errors)} objects not deleted, e.g. {first.get('Key')}: {first.get('Code')}: {first.get('Message')}"
                raise (Unavailable if first.get("Code") in _TRANSIENT_CODES else Refused)(text)
            removed += len(batch)


def _first(items: Iterator[T], n: int) -> list[T]:
    out = []
    for item in items:
        out.append(item)
        if len(out) == n:
            break
    return out


def usage_by_listing(s3, bucket: str) -> Usage:  # noqa: ANN001
    """What a bucket holds, counted by listing it (for stores without Garage's counters).
    botocore's errors pass through: a missing bucket means something different to each caller."""
    sizes = [obj.get("Size", 0) for obj in list_objects(s3, bucket)]
    return Usage(bytes=sum(sizes), objects=len(sizes))
