"""Find-or-create a bucket and a key allowed on it only, on Garage (idempotent: safe to retry)."""

from dataclasses import dataclass

from .adapters.garage import GarageAdmin, GarageConflict


@dataclass(frozen=True)
class BucketAccess:
    bucket_id: str
    access_key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"BucketAccess(bucket_id={self.bucket_id!r}, access_key_id={self.access_key_id!r})"


def ensure_bucket(admin: GarageAdmin, name: str, quota_bytes: int | None, quota_objects: int | None) -> BucketAccess:
    bucket = admin.find_bucket(name) or _create_bucket(admin, name)
    key = admin.find_key(name, show_secret=True) or admin.create_key(name)
    admin.allow(bucket.id, key.id, read=True, write=True, owner=False)
    admin.update_quotas(bucket.id, max_size=quota_bytes, max_objects=quota_objects)
    return BucketAccess(bucket_id=bucket.id, access_key_id=key.id, secret=key.secret)


def _create_bucket(admin: GarageAdmin, name: str):
    try:
        return admin.create_bucket(name)
    except GarageConflict:  # made meanwhile by a concurrent attempt: use it
        return admin.find_bucket(name)
