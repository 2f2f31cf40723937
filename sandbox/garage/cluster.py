"""One stand-in Garage node: the model, moto's data plane and the state file, kept in step.

Both servers (admin API and S3 proxy) act through this object.
"""

from __future__ import annotations

import secrets

from .faults import Faults
from .moto_backend import MotoS3
from .persistence import StateFile
from .state import Bucket, GarageState, Perm, StoredObject


class Cluster:
    def __init__(self, region: str, admin_token: str, moto: MotoS3, state_file: StateFile | None) -> None:
        self.region = region
        self.admin_token = admin_token
        self.moto = moto
        self.state_file = state_file
        self.state = state_file.load() if state_file else GarageState()
        self.faults = Faults()

    # ---- lifecycle ----

    def restore_into_moto(self) -> None:
        """Recreate every bucket and object in a fresh moto from the loaded state."""
        with self.state.lock:
            for b in self.state.buckets.values():
                self.moto.create_bucket(b.moto_name)
                for key, obj in b.objects.items():
                    if obj.data is not None:
                        self.moto.put_object(b.moto_name, key, obj.data, obj.content_type)

    def remove_from_moto(self) -> None:
        with self.state.lock:
            for b in self.state.buckets.values():
                self.moto.delete_bucket(b.moto_name)

    def save(self) -> None:
        if self.state_file is not None:
            self.state_file.save(self.state)

    # ---- buckets ----

    def create_bucket(
        self, global_alias: str | None, local: tuple[str, str] | None = None, local_perm: Perm | None = None
    ) -> Bucket:
        with self.state.lock:
            self.state.check_new_bucket(global_alias, local)
            bucket_id = secrets.token_hex(32)
            # Moto's bucket is named by the global alias; the id names it when the alias is taken
            # in moto (another sandbox in this process) or there is none.
            moto_name = global_alias if global_alias and self.moto.create_bucket(global_alias) else None
            if moto_name is None:
                moto_name = f"garage-{bucket_id[:32]}"
                self.moto.create_bucket(moto_name)
            bucket = self.state.add_bucket(bucket_id, moto_name, global_alias, local, local_perm)
            self.save()
            return bucket

    def delete_bucket(self, bucket_id: str) -> None:
        with self.state.lock:
            bucket = self.state.delete_bucket(bucket_id)
            self.moto.delete_bucket(bucket.moto_name)
            self.save()

    # ---- objects, as the S3 proxy sees them succeed ----

    def object_written(self, bucket: Bucket, key: str, key_id: str, size: int | None = None,
                       content_type: str | None = None) -> None:
        """Record an object moto now holds; with its `size` known (a plain PUT) and nothing to
        persist, moto is not asked again."""
        if size is not None and self.state_file is None:
            with self.state.lock:
                bucket.objects[key] = StoredObject(size, key_id, content_type)
            return
        stat = self.moto.stat_object(bucket.moto_name, key, with_data=self.state_file is not None)
        with self.state.lock:
            if stat is None:
                bucket.objects.pop(key, None)
            else:
                size, content_type, data = stat
                bucket.objects[key] = StoredObject(size, key_id, content_type, data)
            self.save()

    def seed_objects(self, bucket: Bucket, count: int, size: int, prefix: str, key_id: str) -> None:
        """Benchmarks' and tests' shortcut: `count` objects straight into moto, no S3 round trips."""
        body = b"x" * size
        names = [f"{prefix}{i:06d}" for i in range(count)]
        self.moto.seed(bucket.moto_name, names, body)
        with self.state.lock:
            for name in names:
                bucket.objects[name] = StoredObject(size, key_id, None, body if self.state_file else None)
            self.save()

    def objects_deleted(self, bucket: Bucket, keys: list[str]) -> None:
        with self.state.lock:
            for key in keys:
                bucket.objects.pop(key, None)
            self.save()
