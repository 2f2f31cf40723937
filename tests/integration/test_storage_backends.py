"""Storage's two backends behind one port, on the Garage stand-in: Garage (admin API + S3) and plain
S3 (S3 calls only, with one key allowed to create buckets, as a MinIO or AWS-like provider gives).
The same sentences hold for both, except where plain S3 cannot do what Garage does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from runtime import logs
from runtime.patience import Patience, Patient
from sandbox.garage import GarageSandbox
from services.storage.adapters import s3 as s3_plane
from services.storage.adapters.garage import GarageAdmin
from services.storage.adapters.garage_backend import GarageBackend
from services.storage.adapters.plain_s3 import PlainS3Backend
from services.storage.domain import Backend, Refused, Unavailable, cleaner_key_name, operators_names

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox() -> Iterator[GarageSandbox]:
    with GarageSandbox(admin_token="backends-token") as g:
        yield g


@pytest.fixture(scope="module")
def admin(sandbox: GarageSandbox) -> Iterator[GarageAdmin]:
    with GarageAdmin(sandbox.admin_url, sandbox.admin_token) as client:
        yield client


@pytest.fixture(scope="module", params=["garage", "plain-s3"])
def backend(request, sandbox: GarageSandbox, admin: GarageAdmin) -> Backend:
    if request.param == "garage":
        return GarageBackend(admin, sandbox.s3_url, sandbox.region)
    provider_key = admin.create_key(f"provider-{uuid.uuid4().hex[:6]}", can_create_buckets=True)
    return PlainS3Backend(sandbox.s3_url, sandbox.region, provider_key.id, provider_key.secret)


@pytest.fixture(scope="module")
def garage(sandbox: GarageSandbox, admin: GarageAdmin) -> GarageBackend:
    return GarageBackend(admin, sandbox.s3_url, sandbox.region)


def name() -> str:
    return f"fedi-t{uuid.uuid4().hex[:10]}-svc"


def client_for(sandbox: GarageSandbox, access):  # noqa: ANN001, ANN201
    return s3_plane.client(sandbox.s3_url, sandbox.region, access.access_key_id, access.secret, attempts=1)


def fill(s3, bucket: str, count: int, prefix: str = "obj") -> None:  # noqa: ANN001
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"{prefix}/{i:05d}", Body=b"0123456789"), range(count)))


def code_of(call) -> str:  # noqa: ANN001
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]


# ---- both backends ----


def test_ensuring_a_bucket_twice_gives_the_same_bucket_and_key(backend: Backend, sandbox: GarageSandbox) -> None:
    bucket = name()
    first = backend.ensure_bucket(bucket, None, None)
    again = backend.ensure_bucket(bucket, None, None)
    assert (again.bucket_id, again.access_key_id, again.secret) == (first.bucket_id, first.access_key_id, first.secret)
    s3 = client_for(sandbox, first)
    s3.put_object(Bucket=bucket, Key="hello", Body=b"hi")
    assert s3.get_object(Bucket=bucket, Key="hello")["Body"].read() == b"hi"
    assert first.secret not in repr(first)


def test_usage_counts_bytes_and_objects(backend: Backend, sandbox: GarageSandbox) -> None:
    bucket = name()
    access = backend.ensure_bucket(bucket, None, None)
    fill(client_for(sandbox, access), bucket, 3)
    usage = backend.usage(bucket)
    assert (usage.objects, usage.bytes) == (3, 30)
    assert backend.usage(name()) is None


def test_deleting_empties_a_bucket_of_more_than_one_page_and_its_unfinished_uploads(
    backend: Backend, sandbox: GarageSandbox
) -> None:
    bucket = name()
    access = backend.ensure_bucket(bucket, None, None)
    s3 = client_for(sandbox, access)
    fill(s3, bucket, 5, prefix="written")
    sandbox.seed_objects(bucket, 2340)
    s3.create_multipart_upload(Bucket=bucket, Key="half-uploaded.bin")

    removal = backend.delete(bucket)

    assert removal.objects == 2345 and removal.bucket_existed
    assert backend.usage(bucket) is None
    assert bucket not in [a for b in sandbox.inventory()["buckets"] for a in b["aliases"] + [la["alias"] for la in b["localAliases"]]]
    assert backend.delete(bucket).bucket_existed is False, "deleting again is a harmless no-op"


def test_emptying_a_bucket_aborts_its_unfinished_uploads_so_no_part_is_left_taking_space(
    backend: Backend, sandbox: GarageSandbox
) -> None:
    bucket = name()
    s3 = client_for(sandbox, backend.ensure_bucket(bucket, None, None))
    fill(s3, bucket, 3)
    for key in ("video-1.mp4", "video-2.mp4"):
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"x" * 1024)

    assert s3_plane.empty(s3, bucket) == 3

    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    backend.delete(bucket)


def test_holdings_are_the_buckets_of_the_names_asked_for_with_what_each_holds(backend: Backend, sandbox: GarageSandbox) -> None:
    mine, theirs = name(), name()
    operator = mine.removeprefix("fedi-").rsplit("-", 1)[0]
    fill(client_for(sandbox, backend.ensure_bucket(mine, None, None)), mine, 3)
    backend.ensure_bucket(theirs, None, None)

    held = backend.holdings(operators_names(operator))

    assert {bucket: (usage.objects, usage.bytes) for bucket, usage in held.buckets.items()} == {mine: (3, 30)}
    assert set(held.keys.values()) <= {mine}, "plain S3 makes no keys; Garage names the bucket's key after it"
    backend.delete(mine)
    assert backend.holdings(operators_names(operator)).buckets == {}


# ---- Garage: keys per bucket, quotas, revoking ----


def test_a_key_is_allowed_on_its_own_bucket_only(garage: GarageBackend, sandbox: GarageSandbox) -> None:
    mine, theirs = name(), name()
    access = garage.ensure_bucket(mine, None, None)
    other = garage.ensure_bucket(theirs, None, None)
    client_for(sandbox, other).put_object(Bucket=theirs, Key="private", Body=b"theirs")

    assert code_of(lambda: client_for(sandbox, access).get_object(Bucket=theirs, Key="private")) == "AccessDenied"
    assert access.access_key_id != other.access_key_id
    [key] = [k for k in sandbox.inventory()["keys"] if k["id"] == access.access_key_id]
    assert key["name"] == mine
    holders = [b for b in sandbox.inventory()["buckets"] if access.access_key_id in b["keys"]]
    assert [b["aliases"] for b in holders] == [[mine]]


def test_quotas_come_from_the_request_and_are_enforced(garage: GarageBackend, sandbox: GarageSandbox) -> None:
    bucket = name()
    access = garage.ensure_bucket(bucket, 1_000_000, 2)
    s3 = client_for(sandbox, access)
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="c", Body=b"c")
    assert refused.value.response["Error"]["Message"].startswith("Forbidden: Object quota is reached")
    usage = garage.usage(bucket)
    assert (usage.objects, usage.quota_objects, usage.quota_bytes) == (2, 2, 1_000_000)


def test_revoking_keeps_the_objects_and_ensuring_again_reaches_them_with_a_new_key(
    garage: GarageBackend, sandbox: GarageSandbox
) -> None:
    bucket = name()
    before = garage.ensure_bucket(bucket, None, None)
    client_for(sandbox, before).put_object(Bucket=bucket, Key="photo.jpg", Body=b"jpeg")

    assert garage.revoke(bucket, before.access_key_id) is True
    assert code_of(lambda: client_for(sandbox, before).get_object(Bucket=bucket, Key="photo.jpg")) == "AccessDenied"
    assert garage.usage(bucket).objects == 1

    after = garage.ensure_bucket(bucket, None, None)
    assert after.access_key_id != before.access_key_id and after.bucket_id == before.bucket_id
    assert client_for(sandbox, after).get_object(Bucket=bucket, Key="photo.jpg")["Body"].read() == b"jpeg"


def test_deleting_removes_the_buckets_keys_too(garage: GarageBackend, sandbox: GarageSandbox) -> None:
    bucket = name()
    access = garage.ensure_bucket(bucket, None, None)
    removal = garage.delete(bucket)
    assert access.access_key_id in removal.keys
    assert not [k for k in sandbox.inventory()["keys"] if k["name"].startswith(bucket)]


def test_a_bucket_someone_else_made_is_neither_taken_over_nor_deleted(
    garage: GarageBackend, admin: GarageAdmin, sandbox: GarageSandbox
) -> None:
    bucket = admin.create_bucket(name())
    provider = admin.create_key("provider-own")
    admin.allow(bucket.id, provider.id)
    s3_plane.client(sandbox.s3_url, sandbox.region, provider.id, provider.secret).put_object(
        Bucket=bucket.alias, Key="theirs", Body=b"x")
    keys_before = sandbox.inventory()["keys"]

    for attempt in (lambda: garage.ensure_bucket(bucket.alias, None, None), lambda: garage.delete(bucket.alias)):
        with pytest.raises(Refused) as refused:
            attempt()
        assert f"bucket {bucket.alias} exists on Garage with keys storage did not make ({provider.id})" in str(refused.value)
    assert sandbox.inventory()["keys"] == keys_before
    assert garage.usage(bucket.alias).objects == 1


def test_garage_refusals_are_permanent_with_garages_message(garage: GarageBackend) -> None:
    with pytest.raises(Refused) as refused:
        garage.ensure_bucket("Not_A_Valid_Name", None, None)
    assert "400 InvalidRequest: Bad request: Not_A_Valid_Name: Invalid bucket name" in str(refused.value)


def test_garage_failures_are_transient(garage: GarageBackend, sandbox: GarageSandbox) -> None:
    sandbox.inject_fault("CreateBucket", "http_503")
    with pytest.raises(Unavailable) as unavailable:
        garage.ensure_bucket(name(), None, None)
    assert "503 ServiceUnavailable" in str(unavailable.value)


def test_answers_lost_after_each_call_that_makes_something_still_leave_one_bucket_and_one_key(
    garage: GarageBackend, sandbox: GarageSandbox
) -> None:
    bucket = name()
    made = ("CreateBucket", "CreateKey", "AllowBucketKey", "UpdateBucket")
    for operation in made:
        sandbox.inject_fault(operation, "lost_reply")

    failures = 0
    while failures <= len(made):
        try:
            access = garage.ensure_bucket(bucket, 1 << 30, None)
            break
        except Unavailable:
            failures += 1

    assert failures == len(made), "each lost answer was a transient failure, retried"
    inventory = sandbox.inventory()
    [made_bucket] = [b for b in inventory["buckets"] if bucket in b["aliases"]]
    assert [k["id"] for k in inventory["keys"] if k["name"] == bucket] == [access.access_key_id], "one key, not one per attempt"
    assert list(made_bucket["keys"]) == [access.access_key_id]
    assert made_bucket["quotas"]["maxSize"] == 1 << 30


def test_a_retrying_backend_makes_one_bucket_and_one_key_through_a_fifth_of_calls_failing(
    garage: GarageBackend, sandbox: GarageSandbox
) -> None:
    garage = Patient(garage, Patience(base=0.01, cap=0.05, deadline=30), Unavailable, logs.get("test"))
    names = [name() for _ in range(10)]
    for kind in ("http_503", "lost_reply"):
        sandbox.inject_fault("*", kind, rate=0.1)
    try:
        made = {bucket: garage.ensure_bucket(bucket, None, None) for bucket in names}
        for bucket in names[:5]:
            garage.delete(bucket)
    finally:
        taken = sandbox.clear_faults()

    assert taken["http_503"] and taken["lost_reply"], taken
    inventory = sandbox.inventory()
    present = {alias for b in inventory["buckets"] for alias in b["aliases"]}
    assert present & set(names) == set(names[5:]), "deleted buckets are gone, the others are there once"
    keys = [k["name"] for k in inventory["keys"] if k["name"].removesuffix(".cleaner") in names]
    assert sorted(keys) == sorted(names[5:]), "one key per bucket left, none for the deleted ones, no cleaner key"
    assert all([k["id"] for k in inventory["keys"] if k["name"] == bucket] == [made[bucket].access_key_id] for bucket in names[5:])


def test_holdings_find_a_key_whose_bucket_is_gone_and_deleting_it_twice_is_harmless(garage: GarageBackend, admin: GarageAdmin) -> None:
    bucket = name()
    operator = bucket.removeprefix("fedi-").rsplit("-", 1)[0]
    left = admin.create_key(cleaner_key_name(bucket))  # as a deletion interrupted after its bucket went leaves it

    assert garage.holdings(operators_names(operator)).keys == {left.id: cleaner_key_name(bucket)}
    garage.delete_key(left.id)
    garage.delete_key(left.id)
    assert garage.holdings(operators_names(operator)).keys == {}


def test_withdrawing_a_providers_key_takes_its_rights_on_the_bucket_and_leaves_the_key(
    garage: GarageBackend, admin: GarageAdmin, sandbox: GarageSandbox
) -> None:
    shelf = admin.create_bucket(f"provider-{uuid.uuid4().hex[:8]}")
    provider = admin.create_key("provider-shelf")
    admin.allow(shelf.id, provider.id)
    s3 = s3_plane.client(sandbox.s3_url, sandbox.region, provider.id, provider.secret, attempts=1)
    s3.put_object(Bucket=shelf.alias, Key="theirs", Body=b"x")

    assert garage.withdraw(shelf.alias, provider.id) is True
    assert code_of(lambda: s3.get_object(Bucket=shelf.alias, Key="theirs")) == "AccessDenied"
    assert provider.id in [k["id"] for k in sandbox.inventory()["keys"]] and garage.usage(shelf.alias).objects == 1
    assert garage.withdraw(shelf.alias, provider.id) is True, "withdrawing again is harmless"


# ---- plain S3: what it cannot do ----


def test_plain_s3_cannot_revoke_the_shared_key_and_says_so(sandbox: GarageSandbox, admin: GarageAdmin) -> None:
    provider = admin.create_key("provider-revoke", can_create_buckets=True)
    plain = PlainS3Backend(sandbox.s3_url, sandbox.region, provider.id, provider.secret)
    bucket = name()
    access = plain.ensure_bucket(bucket, 100, 1)
    assert access.access_key_id == provider.id, "plain S3 hands out the provider's one key"
    assert plain.revoke(bucket, access.access_key_id) is False
    assert plain.usage(bucket).objects == 0
    assert plain.usage(bucket).quota_objects is None, "no quota is claimed where none is enforced"
    assert plain.withdraw(bucket, access.access_key_id) is False
