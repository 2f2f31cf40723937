"""Find-or-create a bucket and a key allowed on it only, on Garage, for callers holding a
`GarageAdmin` (benchmarks' direct baselines). The service itself goes through its `Backend`."""

from .adapters.garage import GarageAdmin
from .adapters.garage_backend import GarageBackend
from .domain import BucketAccess


def ensure_bucket(admin: GarageAdmin, name: str, quota_bytes: int | None, quota_objects: int | None) -> BucketAccess:
    return GarageBackend(admin, endpoint="", region="").ensure_bucket(name, quota_bytes, quota_objects)
