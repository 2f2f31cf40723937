"""Storage's backend on Garage: buckets and per-bucket keys through the admin API v2, the objects
through S3 (boto3). Every call finds before it creates, so a retried step makes nothing twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..domain import BucketAccess, Holdings, Refused, Removal, Unavailable, Usage, bucket_key_name, cleaner_key_name
from . import s3
from .garage import Bucket, GarageAdmin, GarageConflict, GarageError, GarageNotFound

EMPTYING_ROUNDS = 3
"""How often to empty a bucket that keeps receiving objects before giving up on deleting it."""


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except GarageError as exc:
        if exc.transient:
            raise Unavailable(f"Garage did not answer: {exc}") from None
        raise Refused(f"Garage refused: {exc}") from None


class GarageBackend:
    def __init__(self, admin: GarageAdmin, endpoint: str, region: str) -> None:
        self.admin = admin
        self.endpoint = endpoint
        self.region = region

    def ensure_bucket(self, name: str, quota_bytes: int | None, quota_objects: int | None) -> BucketAccess:
        with translated():
            bucket = self.admin.find_bucket(name)
            if bucket is not None:
                self._refuse_if_not_ours(bucket, name, "give it keys")
            bucket = bucket or self._create_bucket(name)
            key_name = bucket_key_name(name)
            key = self.admin.find_key(key_name, show_secret=True) or self.admin.create_key(key_name)
            self.admin.allow(bucket.id, key.id, read=True, write=True, owner=False)
            for other in set(key.bucket_permissions) - {bucket.id}:
                self.admin.deny(other, key.id)  # allowed on this bucket only, whatever happened before
            self.admin.update_quotas(bucket.id, max_size=quota_bytes, max_objects=quota_objects)
            return BucketAccess(bucket_id=bucket.id, access_key_id=key.id, secret=key.secret)

    def _create_bucket(self, name: str):  # noqa: ANN202
        try:
            return self.admin.create_bucket(name)
        except GarageConflict:  # made meanwhile by a concurrent attempt: use it
            return self.admin.find_bucket(name)

    def revoke(self, name: str, access_key_id: str) -> bool:
        with translated():
            keys = {access_key_id} | set(self._keys_named(bucket_key_name(name)))
        for key_id in sorted(keys):
            self.withdraw(name, key_id)
            self.delete_key(key_id)
        return True

    def withdraw(self, name: str, access_key_id: str) -> bool:
        with translated():
            bucket = self.admin.find_bucket(name)
            if bucket is not None:
                self._ignoring_missing(self.admin.deny, bucket.id, access_key_id)
        return True

    def delete_key(self, access_key_id: str) -> None:
        with translated():
            self._ignoring_missing(self.admin.delete_key, access_key_id)

    def delete(self, name: str) -> Removal:
        with translated():
            bucket = self.admin.find_bucket(name)
            if bucket is not None:
                self._refuse_if_not_ours(bucket, name, "empty or delete it")
            removed = self._empty_and_delete(name, bucket.id) if bucket is not None else 0
            keys = self._keys_named(bucket_key_name(name), cleaner_key_name(name))
        for key_id in keys:
            self.delete_key(key_id)
        return Removal(objects=removed, keys=tuple(keys), bucket_existed=bucket is not None)

    def _empty_and_delete(self, name: str, bucket_id: str) -> int:
        cleaner_name = cleaner_key_name(name)
        cleaner = self.admin.find_key(cleaner_name, show_secret=True) or self.admin.create_key(cleaner_name)
        self.admin.allow(bucket_id, cleaner.id, read=True, write=True, owner=True)
        client = s3.client(self.endpoint, self.region, cleaner.id, cleaner.secret)
        removed = 0
        for _ in range(EMPTYING_ROUNDS):
            removed += s3.empty(client, name)
            try:
                self.admin.delete_bucket(bucket_id)
                return removed
            except GarageNotFound:
                return removed
            except GarageConflict:  # written to while being emptied: empty again
                continue
        raise Refused(f"bucket {name} kept receiving objects while it was being emptied; it was not deleted")

    def usage(self, name: str):  # noqa: ANN201
        with translated():
            bucket = self.admin.find_bucket(name)
        return None if bucket is None else _usage_of(bucket)

    def holdings(self, wanted: Callable[[str], bool]) -> Holdings:
        with translated():
            buckets = {}
            for listed in self.admin.list_buckets():
                name = next((alias for alias in listed.global_aliases if wanted(alias)), None)
                if name is not None:
                    buckets[name] = _usage_of(self.admin.get_bucket(listed.id))
            keys = {key.id: key.name for key in self.admin.list_keys() if wanted(key.name)}
        return Holdings(buckets, keys)

    @staticmethod
    def _refuse_if_not_ours(bucket: Bucket, name: str, doing: str) -> None:
        """A bucket holding keys storage did not make is someone else's (a provider's own bucket,
        perhaps assigned to an operator as pre-configured): storage never takes it over."""
        foreign = sorted(k.key_id for k in bucket.keys if k.name not in (bucket_key_name(name), cleaner_key_name(name)))
        if foreign:
            raise Refused(f"bucket {name} exists on Garage with keys storage did not make ({', '.join(foreign)}); "
                          f"storage will not {doing}")

    def _keys_named(self, *names: str) -> list[str]:
        return [key.id for key in self.admin.list_keys() if key.name in names]

    @staticmethod
    def _ignoring_missing(call, *args) -> None:  # noqa: ANN001
        try:
            call(*args)
        except GarageNotFound:
            pass


def _usage_of(bucket: Bucket) -> Usage:
    return Usage(bucket.bytes, bucket.objects, bucket.quotas.max_size, bucket.quotas.max_objects)
