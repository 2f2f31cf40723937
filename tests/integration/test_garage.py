"""One suite for the Garage client and a Garage: the stand-in by default, a real one when the
environment names it. Every exchange of the client is checked against Garage's documented shapes
(what the client sends and what Garage answers), so both sides pass the same suite.

Real Garage: FEDI_TEST_GARAGE_URL (admin API), FEDI_TEST_GARAGE_TOKEN, FEDI_TEST_GARAGE_S3_URL and
optionally FEDI_TEST_GARAGE_REGION. The tests at the end check the stand-in's own extras
(inventory, faults, state file, process mode) and always use the stand-in.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.config
import httpx
import pytest
from botocore.exceptions import ClientError

from sandbox.garage import GarageSandbox, openapi
from sandbox.garage.conformance import CheckedTransport
from services.storage.adapters.garage import (
    GarageAdmin,
    GarageBadRequest,
    GarageConflict,
    GarageError,
    GarageForbidden,
    GarageNotFound,
    GarageUnavailable,
    Key,
    Permissions,
)

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Garage:
    admin_url: str
    token: str
    s3_url: str
    region: str


@pytest.fixture(scope="module")
def garage() -> Iterator[Garage]:
    if os.environ.get("FEDI_TEST_GARAGE_URL"):
        yield Garage(os.environ["FEDI_TEST_GARAGE_URL"], os.environ["FEDI_TEST_GARAGE_TOKEN"],
                     os.environ["FEDI_TEST_GARAGE_S3_URL"], os.environ.get("FEDI_TEST_GARAGE_REGION", "garage"))
        return
    with GarageSandbox(admin_token="test-admin-token") as g:
        yield Garage(g.admin_url, g.admin_token, g.s3_url, g.region)


@dataclass
class Exchanges:
    """What the client's exchanges with Garage departed from the document in, and which operations ran."""

    problems: list[str]
    operations: set[str]


@pytest.fixture(scope="module")
def exchanges() -> Exchanges:
    return Exchanges([], set())


@pytest.fixture
def admin(garage: Garage, exchanges: Exchanges) -> Iterator[GarageAdmin]:
    transport = CheckedTransport(exchanges.problems, exchanges.operations)
    with GarageAdmin(garage.admin_url, garage.token, transport=transport) as client:
        yield client
    assert exchanges.problems == [], "the client or Garage departed from Garage's OpenAPI document"


def s3_client(url: str, region: str, key_id: str, secret: str, attempts: int = 3):  # noqa: ANN201
    return boto3.client(
        "s3", endpoint_url=url, region_name=region, aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": attempts}),
    )


class Made:
    """Buckets and keys a test created, removed afterwards even if it failed (real Garage stays clean)."""

    def __init__(self, admin: GarageAdmin, garage: Garage) -> None:
        self.admin, self.garage = admin, garage
        self.buckets: list[str] = []
        self.keys: list[Key] = []

    def name(self, prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def bucket(self, alias: str | None = None):  # noqa: ANN201
        b = self.admin.create_bucket(alias or self.name("bkt"))
        self.buckets.append(b.id)
        return b

    def key(self) -> Key:
        k = self.admin.create_key(self.name("key"))
        self.keys.append(k)
        return k

    def s3(self, key: Key, **kw):  # noqa: ANN003, ANN201
        return s3_client(self.garage.s3_url, self.garage.region, key.id, key.secret, **kw)

    def cleanup(self) -> None:
        for bucket_id in self.buckets:
            try:
                alias = self.admin.get_bucket(bucket_id).alias
                cleaner = self.key()
                self.admin.allow(bucket_id, cleaner.id, read=True, write=True)
                s3 = self.s3(cleaner)
                for obj in s3.list_objects_v2(Bucket=alias).get("Contents", []):
                    s3.delete_object(Bucket=alias, Key=obj["Key"])
                self.admin.delete_bucket(bucket_id)
            except (GarageError, ClientError):
                pass
        for k in self.keys:
            try:
                self.admin.delete_key(k.id)
            except GarageError:
                pass


@pytest.fixture
def made(admin: GarageAdmin, garage: Garage) -> Iterator[Made]:
    m = Made(admin, garage)
    yield m
    m.cleanup()


def error_of(call) -> ClientError:  # noqa: ANN001
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def wait_for_objects(admin: GarageAdmin, bucket_id: str, count: int) -> None:
    """Garage's object counters lag writes a little; quotas are checked against them."""
    deadline = time.monotonic() + 10
    while admin.get_bucket(bucket_id).objects != count and time.monotonic() < deadline:
        time.sleep(0.1)


# ---- the contract: the client against Garage ----


def test_health_reports_a_usable_cluster(admin: GarageAdmin) -> None:
    assert admin.health().ok


def test_a_key_allowed_on_a_bucket_can_put_get_and_delete(admin: GarageAdmin, made: Made) -> None:
    bucket, key = made.bucket(), made.key()
    assert key.secret and len(key.secret) == 64
    assert key.id.startswith("GK") and len(key.id) == 26 and len(bucket.id) == 64

    admin.allow(bucket.id, key.id, read=True, write=True)
    s3 = made.s3(key)
    s3.put_object(Bucket=bucket.alias, Key="dir/hello world.txt", Body=b"hello", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket.alias, Key="dir/hello world.txt")
    assert got["Body"].read() == b"hello" and got["ContentType"] == "text/plain"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket.alias)["Contents"]] == ["dir/hello world.txt"]
    assert bucket.alias in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.delete_object(Bucket=bucket.alias, Key="dir/hello world.txt")
    assert s3.list_objects_v2(Bucket=bucket.alias).get("KeyCount") == 0
    assert admin.get_bucket(bucket.id).permissions_of(key.id).write


def test_a_presigned_url_works_for_the_allowed_key(admin: GarageAdmin, made: Made) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id)
    s3 = made.s3(key)
    s3.put_object(Bucket=bucket.alias, Key="shared", Body=b"via url")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket.alias, "Key": "shared"}, ExpiresIn=60)
    assert httpx.get(url).content == b"via url"
    assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0")).status_code == 403


def test_a_second_key_cannot_read_the_first_keys_bucket(admin: GarageAdmin, made: Made) -> None:
    bucket, owner, stranger = made.bucket(), made.key(), made.key()
    admin.allow(bucket.id, owner.id)
    made.s3(owner).put_object(Bucket=bucket.alias, Key="private", Body=b"mine")

    err = error_of(lambda: made.s3(stranger).get_object(Bucket=bucket.alias, Key="private"))
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert err.response["Error"]["Message"] == "Forbidden: Operation is not allowed for this key."
    assert bucket.alias not in [b["Name"] for b in made.s3(stranger).list_buckets()["Buckets"]]


def test_read_only_rights_do_not_allow_writing(admin: GarageAdmin, made: Made) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id, read=True, write=False)
    err = error_of(lambda: made.s3(key).put_object(Bucket=bucket.alias, Key="x", Body=b"x"))
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert made.s3(key).list_objects_v2(Bucket=bucket.alias)["KeyCount"] == 0


def test_deny_withdraws_rights(admin: GarageAdmin, made: Made) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id)
    made.s3(key).put_object(Bucket=bucket.alias, Key="x", Body=b"x")
    after = admin.deny(bucket.id, key.id, read=False, write=True, owner=False)
    assert after.permissions_of(key.id).read and not after.permissions_of(key.id).write
    err = error_of(lambda: made.s3(key).put_object(Bucket=bucket.alias, Key="y", Body=b"y"))
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert made.s3(key).get_object(Bucket=bucket.alias, Key="x")["Body"].read() == b"x"


def test_a_wrong_secret_is_refused(admin: GarageAdmin, made: Made, garage: Garage) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id)
    forged = s3_client(garage.s3_url, garage.region, key.id, "0" * 64)
    err = error_of(lambda: forged.put_object(Bucket=bucket.alias, Key="x", Body=b"x"))
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.response["Error"]["Message"] == "Forbidden: Invalid signature"


def test_an_unknown_or_deleted_key_is_no_such_key(admin: GarageAdmin, made: Made, garage: Garage) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id)
    admin.delete_key(key.id)
    err = error_of(lambda: made.s3(key).list_objects_v2(Bucket=bucket.alias))
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert err.response["Error"]["Message"] == f"Forbidden: No such key: {key.id}"
    assert admin.get_bucket(bucket.id).keys == ()


def test_an_unknown_bucket_is_404_on_s3(made: Made) -> None:
    key = made.key()
    err = error_of(lambda: made.s3(key).get_object(Bucket=made.name("nowhere"), Key="x"))
    assert err.response["Error"]["Code"] == "NoSuchBucket"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_key_without_create_bucket_permission_cannot_create_buckets_over_s3(made: Made) -> None:
    key = made.key()
    err = error_of(lambda: made.s3(key).create_bucket(Bucket=made.name("own")))
    assert err.response["Error"]["Code"] == "AccessDenied"


def test_a_duplicate_alias_is_409_bucket_already_exists(admin: GarageAdmin, made: Made) -> None:
    bucket = made.bucket()
    with pytest.raises(GarageConflict) as info:
        admin.create_bucket(bucket.alias)
    assert info.value.code == "BucketAlreadyExists" and not info.value.transient


def test_an_invalid_bucket_name_is_400(admin: GarageAdmin) -> None:
    with pytest.raises(GarageBadRequest) as info:
        admin.create_bucket("Not_A_Valid_Name")
    assert info.value.code == "InvalidRequest"
    assert info.value.message.startswith("Bad request: Not_A_Valid_Name: Invalid bucket name")


def test_a_non_empty_bucket_cannot_be_deleted(admin: GarageAdmin, made: Made) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id)
    made.s3(key).put_object(Bucket=bucket.alias, Key="keep", Body=b"x")
    with pytest.raises(GarageConflict) as info:
        admin.delete_bucket(bucket.id)
    assert (info.value.status, info.value.code) == (409, "BucketNotEmpty")

    made.s3(key).delete_object(Bucket=bucket.alias, Key="keep")
    admin.delete_bucket(bucket.id)
    assert admin.find_bucket(bucket.alias) is None


def test_object_quota_is_enforced_and_overwrites_do_not_count(admin: GarageAdmin, made: Made) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id)
    updated = admin.update_quotas(bucket.id, max_size=None, max_objects=1)
    assert (updated.quotas.max_objects, updated.quotas.max_size) == (1, None)
    s3 = made.s3(key)
    s3.put_object(Bucket=bucket.alias, Key="one", Body=b"1")
    wait_for_objects(admin, bucket.id, 1)
    s3.put_object(Bucket=bucket.alias, Key="one", Body=b"1 again")
    err = error_of(lambda: s3.put_object(Bucket=bucket.alias, Key="two", Body=b"2"))
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert err.response["Error"]["Message"].startswith("Forbidden: Object quota is reached")


def test_size_quota_is_enforced(admin: GarageAdmin, made: Made) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id)
    admin.update_quotas(bucket.id, max_size=10, max_objects=None)
    s3 = made.s3(key)
    s3.put_object(Bucket=bucket.alias, Key="small", Body=b"12345678")
    wait_for_objects(admin, bucket.id, 1)
    err = error_of(lambda: s3.put_object(Bucket=bucket.alias, Key="big", Body=b"123"))
    assert err.response["Error"]["Message"].startswith("Forbidden: Bucket size quota is reached")
    cleared = admin.update_quotas(bucket.id, None, None)
    assert (cleared.quotas.max_size, cleared.quotas.max_objects) == (None, None)
    s3.put_object(Bucket=bucket.alias, Key="big", Body=b"123")


def test_a_missing_or_bad_token_is_403(garage: Garage) -> None:
    r = httpx.get(f"{garage.admin_url}/v2/ListBuckets")
    assert r.status_code == 403
    assert r.json()["code"] == "AccessDenied"
    assert r.json()["message"] == "Forbidden: Bearer token must be provided in Authorization header"
    assert set(r.json()) == {"code", "message", "region", "path"} and r.json()["path"] == "/v2/ListBuckets"
    r = httpx.get(f"{garage.admin_url}/v2/ListBuckets", headers={"Authorization": garage.token})
    assert r.json()["message"] == "Forbidden: Invalid Authorization header"
    with GarageAdmin(garage.admin_url, "wrong-token") as bad, pytest.raises(GarageForbidden) as info:
        bad.list_buckets()
    assert info.value.message == "Forbidden: Invalid bearer token" and not info.value.transient


def test_malformed_requests_are_400_even_without_a_token(garage: Garage) -> None:
    r = httpx.get(f"{garage.admin_url}/v2/NoSuchOperation")
    assert (r.status_code, r.json()["message"]) == (400, "Bad request: Unknown API endpoint: GET /v2/NoSuchOperation")
    r = httpx.post(f"{garage.admin_url}/v2/DeleteBucket")
    assert (r.status_code, r.json()["code"]) == (400, "InvalidRequest")
    assert r.json()["message"] == "Bad request: Missing argument `id` for endpoint"
    r = httpx.post(f"{garage.admin_url}/v2/CreateBucket", content=b"{not json")
    assert r.status_code == 400 and r.json()["message"].startswith("Bad request: Invalid JSON")


def test_unknown_buckets_and_keys_are_404(admin: GarageAdmin) -> None:
    with pytest.raises(GarageNotFound) as info:
        admin.get_bucket("ab" * 32)
    assert info.value.code == "NoSuchBucket"
    assert admin.find_bucket("no-such-alias-anywhere") is None
    with pytest.raises(GarageBadRequest):
        admin.get_bucket("not-a-bucket-id")
    with pytest.raises(GarageNotFound) as info:
        admin.get_key("GK" + "0" * 24)
    assert info.value.code == "NoSuchAccessKey"
    with pytest.raises(GarageNotFound):
        admin.delete_bucket("cd" * 32)


def test_keys_are_found_by_name_and_show_their_secret_only_when_asked(admin: GarageAdmin, made: Made) -> None:
    key = made.key()
    found = admin.find_key(key.name)
    assert found is not None and found.id == key.id and found.secret is None
    assert admin.find_key(key.name, show_secret=True).secret == key.secret
    assert admin.find_key(made.name("absent")) is None
    assert key.id in [k.id for k in admin.list_keys()]


def test_buckets_are_found_by_alias_and_listed(admin: GarageAdmin, made: Made) -> None:
    bucket = made.bucket()
    assert admin.find_bucket(bucket.alias).id == bucket.id
    assert bucket.id in [b.id for b in admin.list_buckets()]


def test_the_secret_is_never_in_a_repr(made: Made) -> None:
    key = made.key()
    assert key.secret and key.secret not in repr(key) and key.secret not in str(key)
    assert "secret" not in repr(key)


def test_answers_match_garages_openapi_document(garage: Garage, made: Made) -> None:
    h = {"Authorization": f"Bearer {garage.token}"}
    base = garage.admin_url

    def check(op: str, r: httpx.Response) -> dict:
        assert r.status_code == 200, r.text
        method, path, _ = openapi.operation(op)
        assert (r.request.method, r.request.url.path) == (method, path)
        schema = openapi.response_schema(op)
        assert openapi.problems(r.json(), schema) == [], op
        return r.json()

    alias = made.name("oa")
    bucket = check("CreateBucket", httpx.post(f"{base}/v2/CreateBucket", json={"globalAlias": alias}, headers=h))
    made.buckets.append(bucket["id"])
    key = check("CreateKey", httpx.post(f"{base}/v2/CreateKey", json={"name": made.name("oa")}, headers=h))
    made.keys.append(Key(key["accessKeyId"], key["name"]))
    assert "secretAccessKey" in key
    perm = {"bucketId": bucket["id"], "accessKeyId": key["accessKeyId"], "permissions": {"read": True}}
    allowed = check("AllowBucketKey", httpx.post(f"{base}/v2/AllowBucketKey", json=perm, headers=h))
    assert allowed["keys"][0]["permissions"]["read"] is True
    check("DenyBucketKey", httpx.post(f"{base}/v2/DenyBucketKey", json=perm, headers=h))
    check("GetBucketInfo", httpx.get(f"{base}/v2/GetBucketInfo", params={"id": bucket["id"]}, headers=h))
    check("GetBucketInfo", httpx.get(f"{base}/v2/GetBucketInfo", params={"globalAlias": alias}, headers=h))
    quotas = {"quotas": {"maxSize": 1000, "maxObjects": 3}}
    updated = check("UpdateBucket", httpx.post(f"{base}/v2/UpdateBucket", params={"id": bucket["id"]},
                                               json=quotas, headers=h))
    assert updated["quotas"] == {"maxSize": 1000, "maxObjects": 3}
    check("ListBuckets", httpx.get(f"{base}/v2/ListBuckets", headers=h))
    info = check("GetKeyInfo", httpx.get(f"{base}/v2/GetKeyInfo", params={"id": key["accessKeyId"]}, headers=h))
    assert info.get("secretAccessKey") is None
    shown = httpx.get(f"{base}/v2/GetKeyInfo", params={"id": key["accessKeyId"], "showSecretKey": "true"}, headers=h)
    assert check("GetKeyInfo", shown)["secretAccessKey"] == key["secretAccessKey"]
    check("ListKeys", httpx.get(f"{base}/v2/ListKeys", headers=h))
    check("GetClusterHealth", httpx.get(f"{base}/v2/GetClusterHealth", headers=h))

    r = httpx.post(f"{base}/v2/DeleteBucket", params={"id": bucket["id"]}, headers=h)
    assert (r.status_code, r.json()) == (200, None)
    r = httpx.post(f"{base}/v2/DeleteKey", params={"id": key["accessKeyId"]}, headers=h)
    assert (r.status_code, r.json()) == (200, None)
    r = httpx.get(f"{base}/health")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")


def wait_for_uploads(admin: GarageAdmin, bucket_id: str, count: int) -> int:
    deadline = time.monotonic() + 10
    while (found := admin.get_bucket(bucket_id).unfinished_uploads) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_unfinished_multipart_uploads_are_counted_until_aborted(admin: GarageAdmin, made: Made) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id)
    s3 = made.s3(key)
    upload = s3.create_multipart_upload(Bucket=bucket.alias, Key="big.bin")["UploadId"]
    s3.upload_part(Bucket=bucket.alias, Key="big.bin", UploadId=upload, PartNumber=1, Body=b"x" * 1024)
    assert wait_for_uploads(admin, bucket.id, 1) == 1
    listed = s3.list_multipart_uploads(Bucket=bucket.alias)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("big.bin", upload)]

    s3.abort_multipart_upload(Bucket=bucket.alias, Key="big.bin", UploadId=upload)
    assert wait_for_uploads(admin, bucket.id, 0) == 0
    assert s3.list_multipart_uploads(Bucket=bucket.alias).get("Uploads", []) == []


def test_a_quiet_batch_delete_empties_the_bucket_so_it_can_be_deleted(admin: GarageAdmin, made: Made) -> None:
    bucket, key = made.bucket(), made.key()
    admin.allow(bucket.id, key.id)
    s3 = made.s3(key)
    names = [f"obj-{i}" for i in range(5)]
    for name in names:
        s3.put_object(Bucket=bucket.alias, Key=name, Body=b"x")
    answer = s3.delete_objects(Bucket=bucket.alias, Delete={"Objects": [{"Key": n} for n in names], "Quiet": True})
    assert answer.get("Errors", []) == [] and answer.get("Deleted", []) == []
    wait_for_objects(admin, bucket.id, 0)
    admin.delete_bucket(bucket.id)
    assert admin.find_bucket(bucket.alias) is None


def test_a_key_allowed_to_create_buckets_creates_them_over_s3_and_owns_them(admin: GarageAdmin, made: Made,
                                                                            garage: Garage) -> None:
    key = admin.create_key(made.name("creator"), can_create_buckets=True)
    made.keys.append(key)
    assert admin.get_key(key.id).can_create_buckets
    s3 = made.s3(key)
    name = made.name("own")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": garage.region})
    s3.put_object(Bucket=name, Key="x", Body=b"x")
    [bucket_id] = list(admin.get_key(key.id).bucket_permissions)
    made.buckets.append(bucket_id)
    assert admin.get_bucket(bucket_id).permissions_of(key.id) == Permissions(read=True, write=True, owner=True)
    s3.delete_object(Bucket=name, Key="x")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(GarageNotFound):
        admin.get_bucket(bucket_id)


CLIENT_OPERATIONS = {
    "CreateBucket", "GetBucketInfo", "ListBuckets", "UpdateBucket", "DeleteBucket", "CreateKey", "GetKeyInfo",
    "ListKeys", "DeleteKey", "AllowBucketKey", "DenyBucketKey", "GetClusterHealth",
}


def test_every_operation_the_client_uses_was_checked_on_both_sides(exchanges: Exchanges) -> None:
    assert CLIENT_OPERATIONS <= exchanges.operations, f"never exercised: {CLIENT_OPERATIONS - exchanges.operations}"
    assert exchanges.problems == []


def test_the_check_notices_a_request_or_an_answer_unlike_garages() -> None:
    from sandbox.garage.conformance import answer_problems, request_problems

    token = "Bearer t"
    assert request_problems("CreateBucket", "GET", "", b'{"globalAlias": "a"}', token) == [
        "sent as GET, documented as POST"]
    assert request_problems("DeleteBucket", "POST", "bucket=x", b"", token) == [
        "undocumented parameter `bucket`", "required parameter `id` missing"]
    assert request_problems("UpdateBucket", "POST", "id=x", b'{"quotas": {"maxSize": "10"}}', token) == [
        ".quotas.maxSize: expected integer or null, got str"]
    assert request_problems("ListKeys", "GET", "", b"", None) == ["no bearer token"]
    assert answer_problems("GetBucketInfo", 200, b'{"id": "x"}')[0] == ".created: missing"
    assert answer_problems("DeleteBucket", 404, b'{"error": "gone"}')[0].startswith("an error body without Garage's fields")
    assert answer_problems("DeleteKey", 200, b"null") == []


# ---- the stand-in's own extras ----


@pytest.fixture
def sandbox() -> Iterator[GarageSandbox]:
    with GarageSandbox(admin_token="sandbox-token") as g:
        yield g


def test_inventory_records_who_wrote_what_and_never_secrets(sandbox: GarageSandbox) -> None:
    with GarageAdmin(sandbox.admin_url, sandbox.admin_token) as admin:
        bucket = admin.create_bucket("inventoried")
        key = admin.create_key("writer")
        admin.allow(bucket.id, key.id)
        admin.update_quotas(bucket.id, 100, None)
        s3_client(sandbox.s3_url, sandbox.region, key.id, key.secret).put_object(
            Bucket="inventoried", Key="a", Body=b"abc")

    inv = sandbox.inventory()
    assert inv["keys"] == [{"id": key.id, "name": "writer"}]
    [b] = inv["buckets"]
    assert (b["id"], b["aliases"], b["quotas"]) == (bucket.id, ["inventoried"], {"maxSize": 100, "maxObjects": None})
    assert b["objects"] == [{"key": "a", "size": 3, "writtenBy": key.id}]
    assert b["keys"] == {key.id: {"read": True, "write": True, "owner": False}}
    assert key.secret not in json.dumps(inv)
    assert httpx.get(f"{sandbox.admin_url}/sandbox/inventory").json() == inv


def test_seeded_objects_are_listed_counted_and_deletable(sandbox: GarageSandbox) -> None:
    with GarageAdmin(sandbox.admin_url, sandbox.admin_token) as admin:
        bucket = admin.create_bucket("seeded")
        key = admin.create_key("reader")
        admin.allow(bucket.id, key.id)
        sandbox.seed_objects("seeded", 1500, size=4)
        assert (admin.get_bucket(bucket.id).objects, admin.get_bucket(bucket.id).bytes) == (1500, 6000)
        s3 = s3_client(sandbox.s3_url, sandbox.region, key.id, key.secret)
        pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="seeded"))
        assert sum(p["KeyCount"] for p in pages) == 1500
        assert s3.get_object(Bucket="seeded", Key="seed/000007")["Body"].read() == b"xxxx"
        s3.delete_objects(Bucket="seeded", Delete={"Objects": [{"Key": f"seed/{i:06d}"} for i in range(1000)]})
        assert admin.get_bucket(bucket.id).objects == 500


def test_injected_faults_are_transient_errors_then_clear(sandbox: GarageSandbox) -> None:
    with GarageAdmin(sandbox.admin_url, sandbox.admin_token) as admin:
        sandbox.inject_fault("CreateBucket", "http_503")
        with pytest.raises(GarageUnavailable) as info:
            admin.create_bucket("flaky")
        assert info.value.transient and info.value.status == 503 and info.value.code == "ServiceUnavailable"
        assert admin.find_bucket("flaky") is None  # the failed call changed nothing
        bucket = admin.create_bucket("flaky")

        key = admin.create_key("k")
        admin.allow(bucket.id, key.id)
        sandbox.inject_fault("s3:PutObject", "http_500", count=1)
        s3 = s3_client(sandbox.s3_url, sandbox.region, key.id, key.secret, attempts=1)
        err = error_of(lambda: s3.put_object(Bucket="flaky", Key="x", Body=b"x"))
        assert err.response["Error"]["Code"] == "InternalError"
        s3.put_object(Bucket="flaky", Key="x", Body=b"x")

    sandbox.inject_fault("Health", "http_503")
    assert httpx.get(f"{sandbox.admin_url}/health").status_code == 503
    assert httpx.get(f"{sandbox.admin_url}/health").status_code == 200


def test_faults_at_a_rate_strike_every_admin_call_until_cleared_and_a_lost_answer_keeps_what_was_done(sandbox: GarageSandbox) -> None:
    with GarageAdmin(sandbox.admin_url, sandbox.admin_token) as admin:
        sandbox.inject_fault("*", "lost_reply", rate=1.0)
        with pytest.raises(GarageError) as info:
            admin.create_key("lost-answer")
        assert info.value.status == 500 and "the answer was lost" in str(info.value)
        assert httpx.get(f"{sandbox.admin_url}/health").status_code == 200, "health is not an admin call"

        taken = sandbox.clear_faults()

        assert taken["lost_reply"] >= 1
        assert [k["name"] for k in sandbox.inventory()["keys"]].count("lost-answer") == 1, "the key was made all the same"
        assert admin.find_key("lost-answer") is not None
    refused = httpx.post(f"{sandbox.admin_url}/sandbox/faults", json={"operation": "*", "kind": "http_500", "rate": 2})
    assert refused.status_code == 400 and "between 0 and 1" in refused.text


def test_connection_failures_are_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with GarageAdmin(f"http://127.0.0.1:{port}", "t", timeout=1) as admin, pytest.raises(GarageUnavailable) as info:
        admin.list_buckets()
    assert info.value.transient and info.value.status is None


def test_the_state_file_survives_a_restart_objects_included(tmp_path: Path) -> None:
    state = tmp_path / "garage.json"
    with GarageSandbox(admin_token="t", state_file=state) as first:
        with GarageAdmin(first.admin_url, "t") as admin:
            bucket = admin.create_bucket("durable")
            key = admin.create_key("keeper")
            admin.allow(bucket.id, key.id, owner=True)
            admin.update_quotas(bucket.id, 1_000_000, 10)
        s3_client(first.s3_url, first.region, key.id, key.secret).put_object(
            Bucket="durable", Key="note.txt", Body=b"still here", ContentType="text/plain")
        before = first.inventory()
    assert state.stat().st_mode & 0o777 == 0o600

    with GarageSandbox(admin_token="t", state_file=state) as second:
        assert second.inventory() == before
        with GarageAdmin(second.admin_url, "t") as admin:
            again = admin.get_key(key.id, show_secret=True)
            assert again.secret == key.secret and again.name == "keeper"
            restored = admin.get_bucket(bucket.id)
            assert (restored.quotas.max_size, restored.quotas.max_objects, restored.objects) == (1_000_000, 10, 1)
            assert restored.permissions_of(key.id).owner
        got = s3_client(second.s3_url, second.region, key.id, key.secret).get_object(Bucket="durable", Key="note.txt")
        assert got["Body"].read() == b"still here" and got["ContentType"] == "text/plain"


def test_runs_as_a_process_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.garage", "--admin-port", str(ports[0]), "--s3-port", str(ports[1]),
         "--admin-token", "proc-token", "--state-file", str(tmp_path / "state.json")],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == f"garage sandbox admin on http://127.0.0.1:{ports[0]} s3 on http://127.0.0.1:{ports[1]}"
        with GarageAdmin(f"http://127.0.0.1:{ports[0]}", "proc-token") as admin:
            admin.create_bucket("from-a-process")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        assert "from-a-process" in (tmp_path / "state.json").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
