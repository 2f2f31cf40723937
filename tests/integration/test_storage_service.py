"""The storage service as a process on a real nats-server, against the Garage stand-in: commands go
in through the stream, answers come out of it, and what really exists is read from the stand-in's
inventory. One service for the module; each test uses its own operators."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from cryptography.fernet import InvalidToken
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import NotFoundError
from botocore.exceptions import ClientError

from contracts import Message, decode, encode
from contracts.commands import BucketDeletionRequested, BucketRequested, StorageRemovalRequested
from contracts.events import BucketCreated, BucketDeleted, BucketFailed, BucketUsageReported, StorageRemoved
from contracts.requests import SecretReply
from contracts.subjects import STREAM, secret_get
from runtime.nats_server import NatsServer
from runtime.secrets import SecretBox
from runtime.settings import DEVELOPMENT_SECRET
from sandbox.garage import GarageSandbox
from tests.conftest import ask_secret, blocking, stop_process
from services.storage.adapters import s3 as s3_plane
from services.storage.adapters.garage import GarageAdmin, Key
from services.storage.adapters.garage_backend import GarageBackend
from services.storage.domain import cleaner_key_name

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "storage-service-admin-token"
NEW_KEY = "storage-test-key-two"


@dataclass
class World:
    home: Path
    nats: NatsServer
    garage: GarageSandbox
    admin: GarageAdmin
    log: Path
    settings: dict[str, str] = field(default_factory=dict)
    """The service's FEDI_STORAGE_* environment (without the prefix)."""
    process: subprocess.Popen | None = None
    secrets_seen: set[str] = field(default_factory=set)
    """Every key secret the tests came across: none may appear in the stream, the log or the database."""

    def start(self, **changed: str) -> None:
        self.settings.update(changed)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEDI_")} | {
            f"FEDI_STORAGE_{name}": value for name, value in self.settings.items()
        }
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "services.storage"], cwd=PROJECT_ROOT, env=env,
                                            stdout=out, stderr=subprocess.STDOUT)
        blocking(_consuming(self.nats.url, self.process, self.log))

    def stop(self) -> None:
        stop_process(self.process)

    def stored_secrets(self) -> dict[str, bytes]:
        """The secrets table as it is on disk: id -> ciphertext."""
        with sqlite3.connect(self.home / "storage" / "storage.db") as db:
            return dict(db.execute("select id, ciphertext from secrets").fetchall())

    def inventory(self) -> dict:
        return self.garage.inventory()

    def s3(self, key_id: str, secret: str):  # noqa: ANN201
        self.secrets_seen.add(secret)
        return s3_plane.client(self.garage.s3_url, self.garage.region, key_id, secret, attempts=1)

    def provider_key(self, name: str) -> Key:
        key = self.admin.create_key(name)
        self.secrets_seen.add(key.secret)
        return key

    def fedi(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEDI_")}
        return subprocess.run(
            [sys.executable, "-m", "fedi", *args, "--home", str(self.home)],
            input=stdin, capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=120,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("storage-service")
    server = NatsServer(home / "nats").start()
    garage = GarageSandbox(admin_token=ADMIN_TOKEN).start()
    admin = GarageAdmin(garage.admin_url, ADMIN_TOKEN)
    world = World(home, server, garage, admin, home / "storage.log", settings={
        "NATS_URL": server.url,
        "DATA_DIR": str(home / "storage"),
        "GARAGE_ADMIN_URL": garage.admin_url,
        "GARAGE_ADMIN_TOKEN": ADMIN_TOKEN,
        "S3_ENDPOINT": garage.s3_url,
        "S3_REGION": garage.region,
        "REDELIVERY_BACKOFF_SECONDS": "0.1",
        "TRANSIENT_DEADLINE_SECONDS": "0",  # a Garage fault goes straight to the bus, which delivers again
        "ACK_WAIT_SECONDS": "5",
        "USAGE_INTERVAL_SECONDS": "1",
        "LOG_LEVEL": "DEBUG",
    })
    try:
        world.start()
        yield world
    finally:
        world.stop()
        admin.close()
        garage.stop()
        server.stop()


async def _consuming(url: str, process: subprocess.Popen, log: Path, deadline: float = 60.0) -> None:
    """Until the service has made its durable consumers and answers requests (after a restart the
    consumers are there already: the answer tells it started)."""
    connection = await nats.connect(url)
    try:
        until = time.monotonic() + deadline
        while True:
            assert process.poll() is None, f"storage exited: {log.read_text()[-3000:]}"
            try:
                await connection.jetstream().consumer_info(STREAM, "storage-bucket-deletion-requested")
                await connection.jetstream().consumer_info(STREAM, "storage-bucket-requested")
                await connection.jetstream().consumer_info(STREAM, "storage-storage-removal-requested")
                await connection.request(secret_get("storage"), b"{}", timeout=1)
                return
            except (NotFoundError, NoRespondersError, NatsTimeout):
                assert time.monotonic() < until, f"storage never subscribed: {log.read_text()[-3000:]}"
                await asyncio.sleep(0.1)
    finally:
        await connection.close()


class Bus:
    """Publishes commands into the stream and reads the service's answers back out of it."""

    def __init__(self, connection) -> None:  # noqa: ANN001
        self.connection = connection
        self.js = connection.jetstream()
        self.read = 0
        self.messages: list = []

    async def send(self, command: Message) -> Message:
        await self.js.publish(command.subject(), encode(command), stream=STREAM,
                              headers={"Nats-Msg-Id": str(command.event_id)})
        return command

    async def everything(self) -> list:
        last = (await self.js.stream_info(STREAM)).state.last_seq
        while self.read < last:
            self.read += 1
            self.messages.append(await self.js.get_msg(STREAM, self.read))
        return self.messages

    async def answer(self, command: Message, eventually, types=(BucketCreated, BucketFailed, BucketDeleted)) -> Message:
        async def find():
            for raw in await self.everything():
                if raw.subject.startswith("dlq."):
                    continue
                message = decode(raw.data)
                if message.causation_id == str(command.event_id) and isinstance(message, types):
                    return message
            return None

        return await eventually(find, f"an answer to {command.type} {command.event_id}")

    async def secret(self, ref: str, requester: str = "orchestrator") -> SecretReply:
        return await ask_secret(self.connection.connected_url.geturl(), {}, ref, requester)


@pytest.fixture
async def bus(world: World) -> Iterator[Bus]:
    connection = await nats.connect(world.nats.url)
    yield Bus(connection)
    await connection.close()


def operator() -> str:
    return f"op{uuid.uuid4().hex[:8]}"


def requested(operator_id: str, service: str = "mastodon", **fields) -> BucketRequested:
    return BucketRequested(
        correlation_id=f"dep-{uuid.uuid4()}", operator_id=operator_id, producer="orchestrator",
        deployment_id="dep-1", resource_id=f"{operator_id}/{service}/bucket",
        **{"bucket": f"fedi-{operator_id}-{service}"} | fields,
    )


def deletion(operator_id: str, keep_data: bool, service: str = "mastodon", **fields) -> BucketDeletionRequested:
    return BucketDeletionRequested(
        correlation_id=f"dep-{uuid.uuid4()}", operator_id=operator_id, producer="orchestrator",
        deployment_id="dep-2", resource_id=f"{operator_id}/{service}/bucket",
        **{"bucket": f"fedi-{operator_id}-{service}", "keep_data": keep_data} | fields,
    )


def removal(operator_id: str, deployment_id: str | None = None) -> StorageRemovalRequested:
    deployment_id = deployment_id or f"rm-{uuid.uuid4()}"
    return StorageRemovalRequested(correlation_id=deployment_id, operator_id=operator_id, producer="orchestrator",
                                   deployment_id=deployment_id, resource_id=f"{operator_id}/_/storage")


async def provisioned(world: World, bus: Bus, eventually, command: BucketRequested):  # noqa: ANN201
    """The bucket.created answer and an S3 client with the key it names."""
    created = await bus.answer(await bus.send(command), eventually)
    assert isinstance(created, BucketCreated), created
    reply = await bus.secret(created.secret_ref)
    assert reply.value, reply.error
    return created, world.s3(created.access_key_id, reply.value)


def code_of(call) -> tuple[str, str]:  # noqa: ANN001
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"].get("Message", "")


def buckets_named(world: World, text: str) -> list[dict]:
    return [b for b in world.inventory()["buckets"] if any(text in a for a in b["aliases"])]


# ---- automatic buckets (US 6.2) ----


async def test_a_requested_bucket_gets_its_own_key_and_the_requested_quota(world: World, bus: Bus, eventually) -> None:
    op = operator()
    created, s3 = await provisioned(world, bus, eventually, requested(op, quota_bytes=5_000_000, quota_objects=40))

    assert (created.bucket, created.endpoint, created.region) == (f"fedi-{op}-mastodon", world.garage.s3_url, "garage")
    [bucket] = buckets_named(world, created.bucket)
    assert bucket["quotas"] == {"maxSize": 5_000_000, "maxObjects": 40}
    assert bucket["keys"] == {created.access_key_id: {"read": True, "write": True, "owner": False}}
    assert [b["aliases"] for b in world.inventory()["buckets"] if created.access_key_id in b["keys"]] == [[created.bucket]]
    s3.put_object(Bucket=created.bucket, Key="status.json", Body=b"{}")
    assert s3.get_object(Bucket=created.bucket, Key="status.json")["Body"].read() == b"{}"


async def test_a_key_cannot_read_another_operators_bucket(world: World, bus: Bus, eventually) -> None:
    acme, bobco = operator(), operator()
    mine, acme_s3 = await provisioned(world, bus, eventually, requested(acme))
    theirs, bobco_s3 = await provisioned(world, bus, eventually, requested(bobco))
    bobco_s3.put_object(Bucket=theirs.bucket, Key="private/toot.json", Body=b"bobco only")

    assert code_of(lambda: acme_s3.get_object(Bucket=theirs.bucket, Key="private/toot.json"))[0] == "AccessDenied"
    assert code_of(lambda: acme_s3.list_objects_v2(Bucket=theirs.bucket))[0] == "AccessDenied"
    assert code_of(lambda: acme_s3.put_object(Bucket=theirs.bucket, Key="x", Body=b"x"))[0] == "AccessDenied"
    assert [b["Name"] for b in acme_s3.list_buckets()["Buckets"]] == [mine.bucket]


async def test_a_bucket_name_of_another_operator_is_refused(world: World, bus: Bus, eventually) -> None:
    acme = operator()
    first, _ = await provisioned(world, bus, eventually, requested(acme))
    intruder = operator()
    answer = await bus.answer(await bus.send(requested(intruder, bucket=first.bucket)), eventually)
    assert isinstance(answer, BucketFailed) and answer.reason == f"bucket {first.bucket} belongs to another operator"
    assert len(buckets_named(world, first.bucket)[0]["keys"]) == 1


async def test_writing_past_the_quota_is_refused_and_the_usage_report_shows_the_bucket_full(
    world: World, bus: Bus, eventually
) -> None:
    created, s3 = await provisioned(world, bus, eventually, requested(operator(), quota_objects=3))
    s3.put_object(Bucket=created.bucket, Key="a", Body=b"a")  # with storage's own marker: 2 of 3
    s3.put_object(Bucket=created.bucket, Key="b", Body=b"b")

    code, message = code_of(lambda: s3.put_object(Bucket=created.bucket, Key="c", Body=b"c"))
    assert (code, message) == ("AccessDenied", "Forbidden: Object quota is reached, maximum objects for this bucket: 3")

    async def full_report():
        for raw in await bus.everything():
            if raw.subject == BucketUsageReported.subject():
                report = decode(raw.data)
                if report.bucket == created.bucket and report.objects == 3:
                    return report
        return None

    report = await eventually(full_report, f"a usage report of {created.bucket} at its quota")
    assert (report.objects, report.quota_objects, report.operator_id) == (3, 3, created.operator_id)
    assert report.bytes == world.admin.find_bucket(created.bucket).bytes


# ---- keep or delete (US 6.1) and an operator's removal (US 6.3) ----


async def test_keeping_revokes_the_key_and_reenabling_finds_the_objects_with_a_new_key(
    world: World, bus: Bus, eventually
) -> None:
    op = operator()
    before, old_s3 = await provisioned(world, bus, eventually, requested(op))
    old_s3.put_object(Bucket=before.bucket, Key="media/photo.jpg", Body=b"jpeg bytes")

    kept = await bus.answer(await bus.send(deletion(op, keep_data=True)), eventually)
    assert isinstance(kept, BucketDeleted) and (kept.data_kept, kept.objects_removed) == (True, 0)
    assert code_of(lambda: old_s3.get_object(Bucket=before.bucket, Key="media/photo.jpg")) == (
        "AccessDenied", f"Forbidden: No such key: {before.access_key_id}")
    assert (await bus.secret(before.secret_ref)).error == "no such secret"
    [bucket] = buckets_named(world, before.bucket)
    assert "media/photo.jpg" in [o["key"] for o in bucket["objects"]] and bucket["keys"] == {}

    after, new_s3 = await provisioned(world, bus, eventually, requested(op))
    assert after.access_key_id != before.access_key_id and after.bucket == before.bucket
    assert new_s3.get_object(Bucket=after.bucket, Key="media/photo.jpg")["Body"].read() == b"jpeg bytes"


async def test_removing_an_operators_buckets_leaves_nothing_behind_and_reports_what_went(
    world: World, bus: Bus, eventually
) -> None:
    op = operator()
    for service, count in (("mastodon", 3), ("pixelfed", 1)):
        created, s3 = await provisioned(world, bus, eventually, requested(op, service))
        for i in range(count):
            s3.put_object(Bucket=created.bucket, Key=f"file-{i}", Body=b"data")
        s3.create_multipart_upload(Bucket=created.bucket, Key="unfinished.mp4")
    await bus.send(deletion(op, keep_data=True, service="pixelfed"))  # kept first, removed with the rest

    reports = [await bus.answer(await bus.send(deletion(op, keep_data=False, service=s)), eventually)
               for s in ("mastodon", "pixelfed")]

    assert [(r.bucket, r.data_kept, r.objects_removed) for r in reports] == [
        (f"fedi-{op}-mastodon", False, 4), (f"fedi-{op}-pixelfed", False, 2)]  # objects + storage's marker
    inventory = world.inventory()
    assert not [b for b in inventory["buckets"] if any(op in a for a in b["aliases"])]
    assert not [k for k in inventory["keys"] if op in k["name"]]
    listed = world.fedi("storage", "list", op, "--json")
    assert listed.returncode == 0 and listed.stdout == "", listed.stderr
    again = await bus.answer(await bus.send(deletion(op, keep_data=False)), eventually)
    assert isinstance(again, BucketDeleted) and again.objects_removed == 0, "deleting twice is harmless"


def holdings_of(world: World, operator_id: str) -> tuple[list[dict], list[dict]]:
    """The buckets and keys on the sandbox whose names tell they are the operator's."""
    inventory = world.inventory()
    return ([b for b in inventory["buckets"] if any(operator_id in a for a in b["aliases"])],
            [k for k in inventory["keys"] if operator_id in k["name"]])


async def test_removing_an_operators_storage_leaves_only_the_providers_bucket_and_reports_each_thing_that_went(
    world: World, bus: Bus, eventually
) -> None:
    op = operator()
    mastodon, mastodon_s3 = await provisioned(world, bus, eventually, requested(op))
    for i in range(3):
        mastodon_s3.put_object(Bucket=mastodon.bucket, Key=f"media/{i}.jpg", Body=b"jpeg")
    mastodon_s3.create_multipart_upload(Bucket=mastodon.bucket, Key="media/unfinished.mp4")
    pixelfed, pixelfed_s3 = await provisioned(world, bus, eventually, requested(op, "pixelfed"))
    pixelfed_s3.put_object(Bucket=pixelfed.bucket, Key="photo.png", Body=b"png!!")
    await bus.answer(await bus.send(deletion(op, keep_data=True, service="pixelfed")), eventually)  # switched off long ago
    orphan = GarageBackend(world.admin, world.garage.s3_url, world.garage.region).ensure_bucket(f"fedi-{op}-peertube", None, None)
    stray = world.provider_key(f"fedi-{op}-pixelfed")  # both as a deployment interrupted before storage recorded them leaves them
    world.s3(orphan.access_key_id, orphan.secret).put_object(Bucket=f"fedi-{op}-peertube", Key="video.mp4", Body=b"mp4")
    shelf = world.admin.create_bucket(f"provider-{op}-shelf")
    key = world.provider_key(f"provider-{op}")
    world.admin.allow(shelf.id, key.id)
    assert world.fedi("storage", "assign", op, shelf.alias, "--key-id", key.id, "--endpoint", world.garage.s3_url,
                      stdin=key.secret).returncode == 0
    provider_s3 = world.s3(key.id, key.secret)
    provider_s3.put_object(Bucket=shelf.alias, Key="theirs.txt", Body=b"the provider's")

    held = {b["aliases"][0]: (len(b["objects"]), sum(o["size"] for o in b["objects"])) for b in holdings_of(world, op)[0]}
    ours = {k["id"]: k["name"] for k in holdings_of(world, op)[1] if k["id"] != key.id}

    report = await bus.answer(await bus.send(removal(op)), eventually, types=(StorageRemoved,))

    buckets, keys = holdings_of(world, op)
    assert [b["aliases"] for b in buckets] == [[shelf.alias]], "nothing of the operator's is left but the provider's bucket"
    assert [o["key"] for o in buckets[0]["objects"]] == ["theirs.txt"] and not any(buckets[0]["keys"][key.id].values())
    assert keys == [{"id": key.id, "name": f"provider-{op}"}], "the provider's key stays, without its rights"
    assert code_of(lambda: provider_s3.get_object(Bucket=shelf.alias, Key="theirs.txt"))[0] == "AccessDenied"
    assert {b.name: (b.objects, b.bytes) for b in report.buckets} == {name: held[name] for name in held if name != shelf.alias}
    assert [(b.name, b.objects) for b in report.buckets] == [
        (mastodon.bucket, 4), (f"fedi-{op}-peertube", 1), (pixelfed.bucket, 2)], "each with storage's marker but the orphan"
    assert {k.access_key_id: k.name for k in report.keys} == ours and len(ours) == 3, "the service's, the orphan's, the stray one"
    assert stray.id in ours and mastodon.access_key_id in ours
    assert [(b.name, b.access_key_id, b.access_revoked) for b in report.provider_buckets] == [(shelf.alias, key.id, True)]
    assert report.not_removed == ()
    assert world.fedi("storage", "list", op, "--json").stdout == "", "no bucket, key or assignment is recorded for them"

    again = await bus.answer(await bus.send(removal(op, report.deployment_id)), eventually, types=(StorageRemoved,))
    assert again.model_dump(include={"buckets", "keys", "provider_buckets", "not_removed"}) == report.model_dump(
        include={"buckets", "keys", "provider_buckets", "not_removed"}), "the same removal asked again reports the same"
    later = await bus.answer(await bus.send(removal(op)), eventually, types=(StorageRemoved,))
    assert (later.buckets, later.keys, later.provider_buckets, later.not_removed) == ((), (), (), ()), "nothing new, nothing failed"
    assert holdings_of(world, op) == (buckets, keys)


async def test_a_removal_stopped_half_way_by_a_garage_fault_finishes_on_redelivery_and_reports_what_went_before(
    world: World, bus: Bus, eventually
) -> None:
    op = operator()
    for service in ("mastodon", "pixelfed"):
        created, s3 = await provisioned(world, bus, eventually, requested(op, service))
        s3.put_object(Bucket=created.bucket, Key="status.json", Body=b"{}")
    world.garage.inject_fault("DeleteKey", "http_503")  # after the first bucket went, before its keys did

    request = await bus.send(removal(op))
    report = await bus.answer(request, eventually, types=(StorageRemoved,))

    assert holdings_of(world, op) == ([], [])
    assert [(b.name, b.objects) for b in report.buckets] == [(f"fedi-{op}-mastodon", 2), (f"fedi-{op}-pixelfed", 2)]
    assert {k.name for k in report.keys} >= {f"fedi-{op}-mastodon", f"fedi-{op}-pixelfed"}
    assert {k.name for k in report.keys} <= {f"fedi-{op}-mastodon", cleaner_key_name(f"fedi-{op}-mastodon"), f"fedi-{op}-pixelfed"}
    [raw] = [r for r in await bus.everything() if r.subject == StorageRemoved.subject() and decode(r.data).event_id == report.event_id]
    assert raw.headers["Fedi-Delivery"] == "2", "reported on the request's second delivery"


async def test_a_preconfigured_bucket_with_a_wrong_key_is_refused_before_anything_is_created(
    world: World, bus: Bus, eventually
) -> None:
    op = operator()
    shelf = world.admin.create_bucket(f"provider-{op}-shelf")
    key = world.provider_key(f"provider-{op}")
    world.admin.allow(shelf.id, key.id)
    refused_now = world.fedi("storage", "assign", op, shelf.alias, "--key-id", key.id,
                             "--endpoint", world.garage.s3_url, stdin="0" * 64)
    assert refused_now.returncode == 1
    assert f"the secret given for access key {key.id} is wrong" in refused_now.stderr
    assigned = world.fedi("storage", "assign", op, shelf.alias, "--key-id", key.id,
                          "--endpoint", world.garage.s3_url, "--no-verify", stdin="0" * 64 + "\n")
    assert assigned.returncode == 0, assigned.stdout + assigned.stderr
    before = world.inventory()

    answer = await bus.answer(await bus.send(requested(op, bucket=shelf.alias, preconfigured=True)), eventually)

    assert isinstance(answer, BucketFailed)
    assert answer.reason.startswith(f"bucket {shelf.alias} at {world.garage.s3_url} cannot be used with key {key.id}: "
                                    f"the secret given for access key {key.id} is wrong")
    assert world.inventory() == before, "nothing was created, no key, no bucket, no object"
    rows = [json.loads(line) for line in world.fedi("storage", "list", op, "--json").stdout.splitlines()]
    assert [(r["bucket"], r["state"]) for r in rows] == [(shelf.alias, "assigned")]

    missing = f"provider-{op}-gone"
    world.fedi("storage", "assign", op, missing, "--key-id", key.id, "--endpoint", world.garage.s3_url,
               "--no-verify", stdin=key.secret)
    answer = await bus.answer(await bus.send(requested(op, "pixelfed", bucket=missing, preconfigured=True)), eventually)
    assert isinstance(answer, BucketFailed) and ": the bucket does not exist (the endpoint answered 404 NoSuchBucket" in answer.reason

    answer = await bus.answer(await bus.send(requested(op, "peertube", bucket="never-assigned", preconfigured=True)), eventually)
    assert isinstance(answer, BucketFailed)
    assert answer.reason.startswith(f"no pre-configured bucket never-assigned is assigned to operator {op}")
    assert world.inventory() == before


async def test_a_preconfigured_bucket_is_used_with_its_assigned_key_and_never_deleted(
    world: World, bus: Bus, eventually, tmp_path
) -> None:
    op = operator()
    shelf = world.admin.create_bucket(f"provider-{op}-media")
    key = world.provider_key(f"provider-{op}")
    world.admin.allow(shelf.id, key.id)
    secret_file = tmp_path / "secret"
    secret_file.write_text(key.secret + "\n")
    assigned = world.fedi("storage", "assign", op, shelf.alias, "--key-id", key.id,
                          "--endpoint", world.garage.s3_url, "--secret-file", str(secret_file))
    assert assigned.returncode == 0, assigned.stdout + assigned.stderr
    keys_before = world.inventory()["keys"]

    created, s3 = await provisioned(world, bus, eventually, requested(op, bucket=shelf.alias, preconfigured=True))

    assert (created.access_key_id, created.endpoint) == (key.id, world.garage.s3_url)
    assert (await bus.secret(created.secret_ref)).value == key.secret
    assert world.inventory()["keys"] == keys_before and buckets_named(world, shelf.alias)[0]["objects"] == []
    s3.put_object(Bucket=shelf.alias, Key="avatar.png", Body=b"png")

    kept = await bus.answer(await bus.send(deletion(op, keep_data=True, bucket=shelf.alias)), eventually)
    assert isinstance(kept, BucketDeleted) and kept.data_kept
    assert s3.get_object(Bucket=shelf.alias, Key="avatar.png")["Body"].read() == b"png", "the provider's key stays"

    again, _ = await provisioned(world, bus, eventually, requested(op, bucket=shelf.alias, preconfigured=True))
    deleted = await bus.answer(await bus.send(deletion(op, keep_data=False, bucket=shelf.alias)), eventually)
    assert isinstance(deleted, BucketDeleted) and deleted.objects_removed == 1
    assert buckets_named(world, shelf.alias)[0]["objects"] == [], "emptied"
    assert key.id in [k["id"] for k in world.inventory()["keys"]], "the provider's bucket and key remain"
    assert world.fedi("storage", "list", op, "--json").stdout == "", "the assignment ended"


async def test_an_assigned_bucket_requested_as_an_automatic_one_is_still_used_with_its_assigned_key(
    world: World, bus: Bus, eventually
) -> None:
    op = operator()
    shelf = world.admin.create_bucket(f"provider-{op}-photos")
    key = world.provider_key(f"provider-{op}")
    world.admin.allow(shelf.id, key.id)
    assert world.fedi("storage", "assign", op, shelf.alias, "--key-id", key.id, "--endpoint", world.garage.s3_url,
                      stdin=key.secret).returncode == 0
    keys_before = world.inventory()["keys"]

    created = await bus.answer(await bus.send(requested(op, bucket=shelf.alias)), eventually)

    assert isinstance(created, BucketCreated) and created.access_key_id == key.id
    assert world.inventory()["keys"] == keys_before, "no key of storage's own was given rights on it"


async def test_a_providers_own_bucket_is_never_taken_over_by_an_automatic_request(world: World, bus: Bus, eventually) -> None:
    op = operator()
    archive = world.admin.create_bucket(f"fedi-{op}-mastodon")
    key = world.provider_key(f"provider-{op}")
    world.admin.allow(archive.id, key.id)
    before = world.inventory()

    answer = await bus.answer(await bus.send(requested(op)), eventually)

    assert isinstance(answer, BucketFailed)
    assert answer.reason == (f"bucket {archive.alias} exists on Garage with keys storage did not make "
                             f"({key.id}); storage will not give it keys")
    assert world.inventory() == before


# ---- faults ----


async def test_a_transient_garage_failure_is_retried_until_the_bucket_is_made(world: World, bus: Bus, eventually) -> None:
    world.garage.inject_fault("CreateBucket", "http_503", count=2)
    created, _ = await provisioned(world, bus, eventually, requested(operator()))
    assert len(buckets_named(world, created.bucket)) == 1


async def test_a_permanent_garage_refusal_fails_the_bucket_with_garages_message(world: World, bus: Bus, eventually) -> None:
    answer = await bus.answer(await bus.send(requested(operator(), bucket="Not_A_Bucket_Name")), eventually)
    assert isinstance(answer, BucketFailed)
    assert answer.reason.startswith("Garage refused: 400 InvalidRequest: Bad request: Not_A_Bucket_Name: Invalid bucket name")
    assert not [k for k in world.inventory()["keys"] if k["name"] == "Not_A_Bucket_Name"]


# ---- secrets (last: a key change restarts the service, then a scan of what every test above left) ----


async def test_after_a_key_change_every_s3_secret_stays_readable_and_is_re_encrypted_under_the_new_key(
    world: World, bus: Bus, eventually
) -> None:
    created, _ = await provisioned(world, bus, eventually, requested(operator()))
    old, new = SecretBox(DEVELOPMENT_SECRET), SecretBox(NEW_KEY)
    before = {secret_id: old.decrypt(ciphertext) for secret_id, ciphertext in world.stored_secrets().items()}
    mine = created.secret_ref.removeprefix("secret://storage/")
    assert mine in before

    world.stop()
    world.start(SECRET_KEY=NEW_KEY, PREVIOUS_SECRET_KEYS=json.dumps([DEVELOPMENT_SECRET]))
    after = world.stored_secrets()
    assert {secret_id: new.decrypt(ciphertext) for secret_id, ciphertext in after.items()} == before, "each opens with the new key alone"
    for ciphertext in after.values():
        with pytest.raises(InvalidToken):
            old.decrypt(ciphertext)
    assert (await bus.secret(created.secret_ref)).value == before[mine]

    world.stop()
    world.start(PREVIOUS_SECRET_KEYS="[]")
    assert (await bus.secret(created.secret_ref)).value == before[mine], "the old key is no longer needed"


async def test_no_secret_appears_in_any_event_log_or_the_stream(world: World, bus: Bus, eventually) -> None:
    await provisioned(world, bus, eventually, requested(operator()))
    for key in world.admin.list_keys():
        world.secrets_seen.add(world.admin.get_key(key.id, show_secret=True).secret)
    secrets = {s for s in world.secrets_seen if s} | {ADMIN_TOKEN}
    assert len(secrets) > 5

    stream = [raw.data + json.dumps(raw.headers or {}).encode() for raw in await bus.everything()]
    assert any(b"bucket.created" in m for m in stream) and any(b"bucket.usage.reported" in m for m in stream)
    time.sleep(0.2)  # lets the service flush its last log lines
    log = world.log.read_bytes()
    assert b'"bucket ready"' in log
    database = b"".join(p.read_bytes() for p in (world.home / "storage").glob("storage.db*"))
    assert b"secret://storage/" in database
    for secret in secrets:
        assert not any(secret.encode() in m for m in stream), "a secret travelled on the bus"
        assert secret.encode() not in log, "a secret was logged"
        assert secret.encode() not in database, "a secret was stored unencrypted"
