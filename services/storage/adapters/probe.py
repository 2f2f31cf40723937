"""Proves a bucket is usable with its own key, through the S3 API (boto3)."""

from datetime import UTC, datetime

import boto3
from botocore.config import Config

MARKER = ".fediversity/provisioned"


class ProbeFailed(RuntimeError):
    pass


def probe_bucket(endpoint: str, region: str, bucket: str, key_id: str, secret: str) -> None:
    """Writes a marker object (kept), reads it back, and writes and deletes a scratch object."""
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}),
    )
    body = f"provisioned by the Fediversity control plane at {datetime.now(UTC).isoformat()}\n".encode()
    try:
        s3.put_object(Bucket=bucket, Key=MARKER, Body=body)
        if s3.get_object(Bucket=bucket, Key=MARKER)["Body"].read() != body:
            raise ProbeFailed(f"bucket {bucket} returned different bytes than were written")
        s3.put_object(Bucket=bucket, Key=".fediversity/probe", Body=b"probe")
        s3.delete_object(Bucket=bucket, Key=".fediversity/probe")
    except ProbeFailed:
        raise
    except Exception as exc:
        raise ProbeFailed(f"bucket {bucket} is not usable with its key: {exc}") from None
