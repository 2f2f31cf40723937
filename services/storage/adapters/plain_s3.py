"""Storage's backend for S3 stores without Garage's admin API (MinIO, AWS-like providers): buckets
are created and removed through S3 alone, with the one key the provider configured.

Plain S3 has no call to mint keys, set quotas or revoke a key, so with this backend every bucket's
service gets that same key, quotas are not enforced and "keep" cannot revoke access (logged each
time). Providers who need a key per bucket give operators pre-configured buckets instead. The
buckets of an operator are found by listing what the provider's key reaches.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from runtime import logs

from ..domain import BucketAccess, Holdings, Removal, Usage
from . import s3

log = logs.get("storage")


class PlainS3Backend:
    def __init__(self, endpoint: str, region: str, access_key_id: str, secret: str) -> None:
        self.endpoint = endpoint
        self.region = region
        self.access_key_id = access_key_id
        self._secret = secret
        self._s3 = s3.client(endpoint, region, access_key_id, secret)

    def __repr__(self) -> str:
        return f"PlainS3Backend({self.endpoint!r}, key {self.access_key_id})"

    def ensure_bucket(self, name: str, quota_bytes: int | None, quota_objects: int | None) -> BucketAccess:
        params = {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        try:
            self._s3.create_bucket(Bucket=name, **params)
        except ClientError as exc:
            if s3.error_code(exc)[1] != "BucketAlreadyOwnedByYou":
                raise s3.classify(exc, f"creating bucket {name}") from None
        except BotoCoreError as exc:
            raise s3.classify(exc, f"creating bucket {name}") from None
        if quota_bytes is not None or quota_objects is not None:
            log.warning("plain S3 cannot enforce quotas", bucket=name, quota_bytes=quota_bytes, quota_objects=quota_objects)
        return BucketAccess(bucket_id=name, access_key_id=self.access_key_id, secret=self._secret)

    def revoke(self, name: str, access_key_id: str) -> bool:
        log.warning("plain S3 cannot revoke the shared key: the bucket stays reachable with it", bucket=name)
        return False

    def withdraw(self, name: str, access_key_id: str) -> bool:
        log.warning("plain S3 cannot take a key's rights on a bucket: the provider must", bucket=name, access_key_id=access_key_id)
        return False

    def delete_key(self, access_key_id: str) -> None:
        """Plain S3 makes no keys: the one it has is the provider's, never deleted."""

    def holdings(self, wanted: Callable[[str], bool]) -> Holdings:
        with s3.translated("listing buckets"):
            names = [bucket["Name"] for bucket in self._s3.list_buckets().get("Buckets", ()) if wanted(bucket["Name"])]
        return Holdings({name: usage for name in names if (usage := self.usage(name)) is not None})

    def delete(self, name: str) -> Removal:
        if self.usage(name) is None:
            return Removal(objects=0, bucket_existed=False)
        removed = s3.empty(self._s3, name)
        with s3.translated(f"deleting bucket {name}"):
            self._s3.delete_bucket(Bucket=name)
        return Removal(objects=removed)

    def usage(self, name: str) -> Usage | None:
        try:
            return s3.usage_by_listing(self._s3, name)
        except ClientError as exc:
            if s3.error_code(exc)[1] == "NoSuchBucket":
                return None
            raise s3.classify(exc, f"counting bucket {name}") from None
        except BotoCoreError as exc:
            raise s3.classify(exc, f"counting bucket {name}") from None
