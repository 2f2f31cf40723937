"""`GarageSandbox`: the Garage stand-in as one object to start, inspect, break and stop."""

from __future__ import annotations

import secrets
from pathlib import Path

from .admin_api import AdminHandler
from .cluster import Cluster
from .http_util import Server
from .moto_backend import MotoS3
from .persistence import StateFile
from .s3_proxy import S3Handler


class GarageSandbox:
    """A Garage admin API v2 server and an S3 endpoint (moto behind Garage's checks).

    Ports 0 pick free ports. With `state_file`, buckets, keys, permissions, quotas and objects
    survive a restart.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        admin_port: int = 0,
        s3_port: int = 0,
        admin_token: str | None = None,
        region: str = "garage",
        state_file: Path | str | None = None,
    ) -> None:
        self.host = host
        self.region = region
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self._ports = (admin_port, s3_port)
        self._state_file = StateFile(Path(state_file)) if state_file else None
        self._cluster: Cluster | None = None
        self._servers: list[Server] = []

    def start(self) -> GarageSandbox:
        if self._cluster is not None:
            raise RuntimeError("Garage sandbox already started")
        moto = MotoS3(self.host)
        moto.start()
        try:
            cluster = Cluster(self.region, self.admin_token, moto, self._state_file)
            cluster.restore_into_moto()
            admin = Server((self.host, self._ports[0]), AdminHandler, cluster)
            try:
                s3 = Server((self.host, self._ports[1]), S3Handler, cluster)
            except OSError:
                admin.server_close()
                raise
        except BaseException:
            moto.stop()
            raise
        self._cluster = cluster
        self._servers = [admin.start(), s3.start()]
        return self

    def stop(self) -> None:
        if self._cluster is None:
            return
        for server in self._servers:
            server.stop()
        cluster, self._cluster, self._servers = self._cluster, None, []
        cluster.save()
        cluster.remove_from_moto()  # moto's state is per process: leave nothing for the next one
        cluster.moto.stop()

    def __enter__(self) -> GarageSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self._running()._servers[0].port}"

    @property
    def s3_url(self) -> str:
        return f"http://{self.host}:{self._running()._servers[1].port}"

    def inventory(self) -> dict:
        """Buckets (aliases, quotas, objects with the key that wrote each, permissions) and keys; no secrets."""
        return self._running()._cluster.state.inventory()

    def seed_objects(self, bucket: str, count: int, size: int = 10, prefix: str = "seed/") -> None:
        """Put `count` objects of `size` bytes into a bucket (global alias, a key's local alias, or id)
        without going through S3: fast set-up for benchmarks. They count as written by the bucket's
        first key."""
        cluster = self._running()._cluster
        with cluster.state.lock:
            found = cluster.state.bucket_by_global_alias(bucket) or next(
                (b for b in cluster.state.buckets.values()
                 if b.id == bucket or any(alias == bucket for _, alias in b.local_aliases)), None)
            if found is None:
                raise KeyError(f"no bucket {bucket}")
            writer = next(iter(found.perms), next((k for k, _ in found.local_aliases), ""))
        cluster.seed_objects(found, count, size, prefix, writer)

    def inject_fault(self, operation: str, kind: str = "http_500", count: int = 1, rate: float | None = None) -> None:
        """Make the next `count` calls of `operation` (`CreateBucket`, `Health`, `s3:PutObject`, `*`
        for every admin call) fail, or each with probability `rate`."""
        self._running()._cluster.faults.inject(operation, kind, count, rate)

    def clear_faults(self) -> dict[str, int]:
        """Stops every injected fault; returns how many of each kind struck."""
        faults = self._running()._cluster.faults
        faults.clear()
        return dict(faults.taken)

    def _running(self) -> GarageSandbox:
        if self._cluster is None:
            raise RuntimeError("Garage sandbox is not running: call start() first")
        return self
