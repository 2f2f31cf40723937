"""How long storage takes to empty and delete a bucket of 10,000 objects on the Garage stand-in
(what "delete the data" costs when an operator disables a service), against a baseline measured in
the same run on the same bucket: listing those objects once through S3 (10 pages of 1,000).

    .venv/bin/python bench/storage_empty_bucket.py [--objects 10000] [--runs 3]

Each run seeds a fresh bucket straight into the stand-in's store (not timed), lists it (baseline),
then times GarageBackend.delete: abort multipart uploads, list + DeleteObjects in batches of 1,000,
DeleteBucket, delete the keys. The ratio says how many listings' worth of work the deletion is.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.garage import GarageSandbox  # noqa: E402
from services.storage.adapters import s3  # noqa: E402
from services.storage.adapters.garage import GarageAdmin  # noqa: E402
from services.storage.adapters.garage_backend import GarageBackend  # noqa: E402


def one_run(sandbox: GarageSandbox, backend: GarageBackend, bucket: str, objects: int) -> tuple[float, float]:
    access = backend.ensure_bucket(bucket, None, None)
    sandbox.seed_objects(bucket, objects, size=100)
    client = s3.client(sandbox.s3_url, sandbox.region, access.access_key_id, access.secret)

    started = time.perf_counter()
    listed = sum(1 for _ in s3.list_objects(client, bucket))
    listing = time.perf_counter() - started
    if listed != objects:
        raise SystemExit(f"listed {listed} objects, expected {objects}")

    started = time.perf_counter()
    removal = backend.delete(bucket)
    deleting = time.perf_counter() - started
    if removal.objects != objects or any(bucket in b["aliases"] for b in sandbox.inventory()["buckets"]):
        raise SystemExit(f"bucket {bucket} not fully removed: {removal}")
    return listing, deleting


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with GarageSandbox() as sandbox, GarageAdmin(sandbox.admin_url, sandbox.admin_token) as admin:
        backend = GarageBackend(admin, sandbox.s3_url, sandbox.region)
        results = [one_run(sandbox, backend, f"fedi-bench-{run}", args.objects) for run in range(args.runs)]
    listing = statistics.median(r[0] for r in results)
    deleting = statistics.median(r[1] for r in results)
    print(f"list {args.objects} objects (baseline):        median {listing:.2f} s over {args.runs} runs")
    print(f"empty and delete the bucket and its keys: median {deleting:.2f} s over {args.runs} runs "
          f"({args.objects / deleting:.0f} objects/s)")
    print(f"ratio delete / list: {deleting / listing:.2f}")


if __name__ == "__main__":
    main()
