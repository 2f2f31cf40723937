"""The main flow on the real stack: nats-server from the wheel, the five services as processes,
the sandbox Proxmox / Garage / NixOS target. Tests run in order and build on each other's state."""

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter

import nats
from nats.js.errors import NotFoundError
import pytest

from contracts import decode, encode
from contracts.events import ConfigSubmitted
from contracts.requests import SecretReply
from contracts.subjects import STREAM
from sandbox.nixos_target import records
from services.storage.adapters.garage import GarageAdmin
from runtime.connection import connect_options
from tests.conftest import ask_secret as secret_of
from tests.e2e.conftest import blocking, mastodon_and_pixelfed, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def acme(running):
    return running.operator("acme")


@pytest.fixture(scope="module")
def first_deployment(running, acme) -> dict:
    response = running.submit(acme, mastodon_and_pixelfed())
    assert response.status_code == 202, response.text
    return running.wait_for(acme, response.json()["deployment_id"])


def stream_messages(stack, streams: tuple[str, ...] = (STREAM,)) -> list:
    """Every message the streams hold (all of the server's with `streams=()`)."""

    async def read():
        connection = await nats.connect(stack.nats.url, **stack.admin_options())
        js = connection.jetstream()
        names = streams or tuple(info.config.name for info in await js.streams_info())
        messages = []
        for name in names:
            state = (await js.stream_info(name)).state
            for seq in range(max(state.first_seq, 1), state.last_seq + 1 if state.messages else 1):
                try:
                    message = await js.get_msg(name, seq)
                except NotFoundError:  # a dead letter taken out when it was replayed
                    continue
                message.stream = name
                messages.append(message)
        await connection.close()
        return messages

    return blocking(read())


def ask_secret(stack, ref: str, requester: str) -> SecretReply:
    """Asked as that service, with its own bus credentials (the owner checks who really asks)."""
    credentials = connect_options(requester, stack.nats_passwords[requester], str(stack.tls["ca"]))
    return blocking(secret_of(stack.nats.url, credentials, ref, requester))


def test_mastodon_and_pixelfed_are_deployed_onto_running_vms(running, first_deployment):
    assert first_deployment["state"] == "succeeded", first_deployment
    assert first_deployment["percent"] == 100
    assert first_deployment["urls"] == {
        "mastodon": "https://mastodon.acme.example",
        "pixelfed": "https://pixelfed.acme.example",
    }
    vms = {vm["name"]: vm for vm in running.proxmox_inventory() if not vm.get("template")}
    assert set(vms) == {"acme-mastodon", "acme-pixelfed"}
    assert vms["acme-mastodon"]["cores"] == 2 and vms["acme-mastodon"]["memory"] == 4096
    assert vms["acme-pixelfed"]["cores"] == 2 and vms["acme-pixelfed"]["memory"] == 2048
    for vm in vms.values():
        assert vm["status"] == "running"
        assert "fedi-op-acme" in vm["tags"]
    deployed = records(running.stack.sandbox / "nixos")
    assert {name: record["services"] for name, record in deployed.items()} == {
        "acme-mastodon": ["mastodon"],
        "acme-pixelfed": ["pixelfed"],
    }


def test_each_bucket_holds_the_probe_written_with_its_own_key(running, first_deployment):
    buckets = {b["aliases"][0]: b for b in running.garage_inventory()["buckets"]}
    assert set(buckets) == {"fedi-acme-mastodon", "fedi-acme-pixelfed"}
    for bucket in buckets.values():
        writers = {obj["writtenBy"] for obj in bucket["objects"]}
        assert len(bucket["keys"]) == 1, "one key, allowed on this bucket only"
        assert writers == set(bucket["keys"]), "the probe was written through the bucket's own key"


def test_identity_holds_an_admin_account_per_service(running, first_deployment):
    with sqlite3.connect(running.stack.home / "identity" / "identity.db") as db:
        accounts = db.execute("select service, username from accounts where operator_id = 'acme'").fetchall()
    assert sorted(accounts) == [("mastodon", "alice"), ("pixelfed", "alice")]


def test_every_event_of_the_deployment_shares_its_correlation_id_and_trace_prints_the_chain(running, first_deployment):
    deployment_id = first_deployment["id"]
    ours = [decode(m.data) for m in stream_messages(running.stack) if deployment_id.encode() in m.data]
    assert {m.correlation_id for m in ours} == {deployment_id}
    types = Counter(m.type for m in ours)
    for expected in ("config.submitted", "plan.created", "deployment.started", "vm.provisioned", "bucket.requested",
                     "bucket.created", "account.requested", "account.created", "nixos.deployed", "deployment.succeeded"):
        assert types[expected] >= 1, expected
    by_id = {str(m.event_id) for m in ours}
    assert all(m.causation_id in by_id for m in ours if m.type != "config.submitted"), "every event names its cause"

    trace = subprocess.run(
        [sys.executable, "-m", "fedi", "trace", deployment_id, "--home", str(running.stack.home)],
        capture_output=True, text=True, timeout=60,
    )
    assert trace.returncode == 0, trace.stderr
    lines = trace.stdout.splitlines()
    assert len(lines) == len(ours)
    assert "config.submitted" in lines[0] and "deployment.succeeded" in trace.stdout
    for service in ("panel", "configurator", "orchestrator", "storage", "identity"):
        assert service in trace.stdout


def test_no_stream_log_or_database_holds_a_generated_secret_in_clear(running, first_deployment):
    messages = stream_messages(running.stack)
    refs = {decode(m.data).secret_ref for m in messages if m.subject in ("bucket.created", "account.created")}
    assert len(refs) == 6, "two bucket keys, two admin passwords, two mail relay passwords"
    secrets = [ask_secret(running.stack, ref, "orchestrator").value for ref in refs]
    assert all(secrets)
    everywhere = stream_messages(running.stack, streams=())  # the events, failure notes, advisories, audit log, traces
    assert {m.stream for m in everywhere} > {STREAM}
    for message in everywhere:
        everything = message.data + json.dumps(message.headers or {}).encode()
        for secret in secrets:
            assert secret.encode() not in everything, f"a secret leaked into {message.stream} {message.subject}"
    for log in running.stack.logs.glob("*.log"):
        text = log.read_text()
        assert not any(secret in text for secret in secrets), f"a secret leaked into {log.name}"
    for database in running.stack.home.glob("*/*.db*"):  # each service's SQLite files, write-ahead log included
        stored = database.read_bytes()
        assert not any(secret.encode() in stored for secret in secrets), f"a secret is stored in clear in {database}"


def test_a_service_that_may_not_read_a_secret_gets_nothing(running, first_deployment):
    relay_accounts = [decode(m.data) for m in stream_messages(running.stack) if m.subject == "account.created"]
    ref = next(account.secret_ref for account in relay_accounts if account.username != "alice")
    reply = ask_secret(running.stack, ref, "panel")
    assert reply.value is None and "may not read" in reply.error, "the panel reveals admin passwords, never relay passwords"


def test_resubmitting_the_same_configuration_creates_nothing_new(running, acme, first_deployment):
    vms_before = running.proxmox_inventory()
    buckets_before = running.garage_inventory()["buckets"]
    generations_before = {n: r["generation"] for n, r in records(running.stack.sandbox / "nixos").items()}

    response = running.submit(acme, mastodon_and_pixelfed())
    second = running.wait_for(acme, response.json()["deployment_id"])

    assert second["state"] == "succeeded"
    assert {c["action"] for c in second["changes"]} == {"unchanged"}
    assert {step["state"] for step in second["steps"].values()} == {"done"}
    every_detail = wait_until(
        lambda: _details(running.deployment(acme, second["id"])), 30, "every step's progress in the panel"
    )
    assert every_detail == {"unchanged"}
    assert running.proxmox_inventory() == vms_before
    assert [b["id"] for b in running.garage_inventory()["buckets"]] == [b["id"] for b in buckets_before]
    assert {n: r["generation"] for n, r in records(running.stack.sandbox / "nixos").items()} == generations_before
    with sqlite3.connect(running.stack.home / "identity" / "identity.db") as db:
        assert db.execute("select count(*) from accounts").fetchone()[0] == 2


def _details(view: dict) -> set[str] | None:
    details = {step["detail"] for step in view["steps"].values()}
    return None if "" in details else details


def test_an_invalid_configuration_is_answered_with_field_reasons_and_nothing_is_provisioned(running, acme, first_deployment):
    vms_before = running.proxmox_inventory()
    response = running.submit(
        acme,
        {"domain": "not a domain", "initialUser": {"username": "alice", "displayName": "Alice", "email": "alice-at-example"}},
    )
    assert response.status_code == 422
    problems = {p["field"]: p["message"] for p in response.json()["problems"]}
    assert "domain" in problems and "initialUser.email" in problems

    no_service = mastodon_and_pixelfed() | {"mastodon": {"enable": False}, "pixelfed": {"enable": False}}
    response = running.submit(acme, no_service)
    assert response.status_code == 422
    assert "enable at least one service" in response.text
    assert running.proxmox_inventory() == vms_before


def test_a_malformed_message_is_dead_lettered_and_the_services_keep_working(running, acme, first_deployment):
    async def inject():
        connection = await nats.connect(running.stack.nats.url, **running.stack.admin_options())
        await connection.jetstream().publish("config.submitted", b'{"type": "config.submitted", "version": 1}')
        await connection.close()

    vms_before = running.proxmox_inventory()
    asyncio.run(inject())
    wait_until(
        lambda: [m for m in stream_messages(running.stack) if m.subject == "dlq.config.submitted"],
        30, "the malformed message on the dead-letter subject",
    )
    dead = next(m for m in stream_messages(running.stack) if m.subject == "dlq.config.submitted")
    assert "invalid config.submitted" in dead.headers["Fedi-Dead-Letter-Reason"]
    assert running.proxmox_inventory() == vms_before

    response = running.submit(acme, mastodon_and_pixelfed())
    assert running.wait_for(acme, response.json()["deployment_id"])["state"] == "succeeded"


def test_a_poison_submission_is_parked_with_its_reason_and_once_fixed_and_replayed_it_deploys(running, tmp_path):
    poison = json.loads(encode(ConfigSubmitted(
        correlation_id=str(uuid.uuid4()), operator_id="hooli", producer="panel", revision=1,
        configuration=mastodon_and_pixelfed("hooli.example"),
    )))
    poison["revision"] = 0  # revisions start at 1: its consumer can never accept it as it is

    async def inject():
        connection = await nats.connect(running.stack.nats.url, **running.stack.admin_options())
        await connection.jetstream().publish("config.submitted", json.dumps(poison).encode())
        await connection.close()

    asyncio.run(inject())
    fedi = lambda *args, **env: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "fedi", "dlq", *args, "--home", str(running.stack.home)],
        capture_output=True, text=True, timeout=60, env=os.environ | env,
    )
    listed = wait_until(lambda: [line for line in fedi("list").stdout.splitlines() if "config.submitted" in line and "revision" in line],
                        30, "the poison submission among the dead letters")
    sequence = listed[-1].split()[0].lstrip("#")
    editor = tmp_path / "fix-revision"
    editor.write_text('#!/bin/sh\nsed -i \'s/"revision": 0/"revision": 1/\' "$1"\n')
    editor.chmod(0o755)

    replayed = fedi("replay", sequence, "--edit", EDITOR=str(editor), VISUAL=str(editor))

    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    wait_until(
        lambda: any(m.subject == "deployment.succeeded" and poison["correlation_id"].encode() in m.data for m in stream_messages(running.stack)),
        90, "the replayed submission deployed",
    )
    assert sequence not in [line.split()[0].lstrip("#") for line in fedi("list").stdout.splitlines() if line.startswith("#")]


def test_an_orchestrator_killed_mid_deployment_resumes_and_makes_no_second_vm(running):
    globex = running.operator("globex")
    running.proxmox_control("latency", {"qmclone": 1.5})
    try:
        response = running.submit(globex, mastodon_and_pixelfed("globex.example"))
        deployment_id = response.json()["deployment_id"]
        wait_until(
            lambda: any(vm.get("lock") == "clone" and vm["name"].startswith("globex-") for vm in running.proxmox_inventory()),
            30, "a globex VM being cloned",
        )
        running.stack.kill("orchestrator")
        running.stack.start_service("orchestrator")
        final = running.wait_for(globex, deployment_id)
    finally:
        running.proxmox_control("latency", {"qmclone": 0})
    assert final["state"] == "succeeded", final
    names = Counter(vm["name"] for vm in running.proxmox_inventory() if vm["name"].startswith("globex-"))
    assert names == {"globex-mastodon": 1, "globex-pixelfed": 1}


def test_a_deployment_whose_bucket_was_made_on_a_second_delivery_shows_that_in_its_trace(running):
    initech = running.operator("initech")
    # Storage's probe of the new bucket fails all its three tries: the message comes again.
    running.garage_fault("s3:PutObject", "http_500", count=3)

    response = running.submit(initech, {**mastodon_and_pixelfed("initech.example"), "pixelfed": {"enable": False}})
    final = running.wait_for(initech, response.json()["deployment_id"])
    assert final["state"] == "succeeded", final

    timeline = subprocess.run(
        [sys.executable, "-m", "fedi", "trace", final["id"], "--timeline", "--home", str(running.stack.home)],
        capture_output=True, text=True, timeout=60,
    )
    assert timeline.returncode == 0, timeline.stderr
    redelivered = [line for line in timeline.stdout.splitlines() if "REDELIVERED" in line]
    assert redelivered and all("bucket.created" in line for line in redelivered), timeline.stdout
    assert any(line.strip().startswith("storage") and "redeliveries 1" in line for line in timeline.stdout.splitlines())


def test_state_survives_a_restart_of_the_whole_stack(running, acme, first_deployment):
    deployments_before = running.api.get("/api/v1/deployments", headers=acme).json()
    vms_before = running.proxmox_inventory()

    running.stack.stop()
    running.stack.start()

    assert running.api.get("/api/v1/deployments", headers=acme).json() == deployments_before
    assert running.proxmox_inventory() == vms_before
    response = running.submit(acme, mastodon_and_pixelfed())
    again = running.wait_for(acme, response.json()["deployment_id"])
    assert again["state"] == "succeeded" and {c["action"] for c in again["changes"]} == {"unchanged"}


def test_every_service_answers_prometheus_metrics(running, first_deployment):
    from prometheus_client.parser import text_string_to_metric_families

    for service, port in running.stack.metrics_ports.items():
        text = running.api.get(f"http://127.0.0.1:{port}/metrics").text
        names = {family.name for family in text_string_to_metric_families(text)}
        assert "fedi_consumer_pending" in names and "fedi_outbox_pending" in names, service
        assert any(name.startswith("faststream_") for name in names), service
    panel = running.api.get(f"http://127.0.0.1:{running.stack.metrics_ports['panel']}/metrics").text
    assert 'faststream_received_messages_total{app_name="panel"' in panel


def test_removing_an_account_removes_everything_it_had_even_what_no_plan_knows(running):
    umbrella = running.operator("umbrella")
    first = running.wait_for(umbrella, running.submit(umbrella, mastodon_and_pixelfed("umbrella.example")).json()["deployment_id"])
    assert first["state"] == "succeeded", first
    with GarageAdmin(running.stack.garage_admin_url, running.stack.garage_token) as admin:  # as an interrupted deployment leaves them
        stray = admin.create_bucket("fedi-umbrella-peertube")
        admin.allow(stray.id, admin.create_key("fedi-umbrella-peertube").id)

    asked = running.api.post("/api/v1/account/removal", json={"confirm": "umbrella", "reason": "closing down"}, headers=umbrella)
    assert asked.status_code == 202, asked.text
    removal = wait_until(
        lambda: next((d for d in running.api.get("/api/v1/deployments", headers=umbrella).json()
                      if d["origin"] == "removal" and d["state"] in ("succeeded", "failed")), None),
        120, "the removal to end",
    )

    assert removal["state"] == "succeeded", removal
    assert not [vm for vm in running.proxmox_inventory() if vm["name"].startswith("umbrella-")]
    garage = running.garage_inventory()
    assert not [b for b in garage["buckets"] if any("umbrella" in alias for alias in b["aliases"])]
    assert not [k for k in garage["keys"] if "umbrella" in k["name"]]
    with sqlite3.connect(running.stack.home / "identity" / "identity.db") as db:
        left = {table: db.execute(f"select count(*) from {table} where operator_id = 'umbrella'").fetchone()[0]
                for table in ("accounts", "relay_accounts", "ssh_keys")}
        entries = db.execute("select count(*) from directory_entries where dn_key like '%ou=umbrella,%'").fetchone()[0]
    assert left == dict.fromkeys(left, 0) and entries == 0
    sweep = removal["steps"]["umbrella/_/storage"]
    assert sweep["state"] == "done" and "fedi-umbrella-peertube" in sweep["detail"], sweep
    assert "fedi-umbrella-mastodon" not in sweep["detail"], "the planned buckets went with their own steps"


def test_a_bucket_assigned_with_a_wrong_key_fails_the_deployment_with_why_before_anything_of_its_service_is_made(running, tmp_path):
    with GarageAdmin(running.stack.garage_admin_url, running.stack.garage_token) as admin:  # the provider's own bucket and key
        shelf = admin.create_bucket("provider-piedpiper-media")
        key = admin.create_key("provider-piedpiper")
        admin.allow(shelf.id, key.id)
    assigned = subprocess.run(
        [sys.executable, "-m", "fedi", "storage", "assign", "piedpiper", shelf.alias, "--key-id", key.id, "--endpoint",
         running.stack.s3_url, "--no-verify", "--home", str(running.stack.home)],
        input="0" * 64 + "\n", capture_output=True, text=True, timeout=60,
    )
    assert assigned.returncode == 0, assigned.stdout + assigned.stderr
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"operators:\n  piedpiper:\n    buckets: {{mastodon: {shelf.alias}}}\n")
    running.stack.env["FEDI_CONFIGURATOR_POLICY_FILE"] = str(policy)
    running.stack.kill("configurator")
    running.stack.start_service("configurator")
    piedpiper = running.operator("piedpiper")

    response = running.submit(piedpiper, {**mastodon_and_pixelfed("piedpiper.example"), "pixelfed": {"enable": False}})
    final = running.wait_for(piedpiper, response.json()["deployment_id"])

    assert final["state"] == "failed", final
    assert f"the secret given for access key {key.id} is wrong" in final["reason"], final["reason"]
    made = {step for step, seen in final["steps"].items() if seen["state"] == "done"}
    assert not {step for step in made if step.startswith("piedpiper/mastodon/")}, made
    assert not [vm for vm in running.proxmox_inventory() if vm["name"].startswith("piedpiper-")]
    assert not [k for k in running.garage_inventory()["keys"] if k["name"].startswith("fedi-piedpiper")]


def test_switching_a_service_off_keeps_or_deletes_its_data_as_chosen_and_switching_it_on_finds_it_again(running):
    soylent = running.operator("soylent")
    both = mastodon_and_pixelfed("soylent.example")

    def deploy(response) -> dict:
        assert response.status_code == 202, response.text
        final = running.wait_for(soylent, response.json()["deployment_id"])
        assert final["state"] == "succeeded", final
        return final

    def pixelfed() -> tuple[dict | None, list[str], dict | None]:
        garage = running.garage_inventory()
        bucket = next((b for b in garage["buckets"] if "fedi-soylent-pixelfed" in b["aliases"]), None)
        keys = [k["id"] for k in garage["keys"] if k["name"] == "fedi-soylent-pixelfed"]
        vm = next((vm for vm in running.proxmox_inventory() if vm["name"] == "soylent-pixelfed"), None)
        return bucket, keys, vm

    deploy(running.submit(soylent, both))
    bucket, _, vm = pixelfed()
    objects = [o["key"] for o in bucket["objects"]]
    assert objects, "the bucket holds what was written into it"

    deploy(running.api.post("/api/v1/services/pixelfed/disable", json={"data": "keep"}, headers=soylent))
    kept, keys, kept_vm = pixelfed()
    assert kept["id"] == bucket["id"] and [o["key"] for o in kept["objects"]] == objects, "bucket and objects kept"
    assert kept["keys"] == {} and keys == [], "no key reaches it any more"
    assert (kept_vm["vmid"], kept_vm["status"]) == (vm["vmid"], "stopped"), "its VM (and database disk) is kept, shut down"

    deploy(running.submit(soylent, both))
    again, keys, again_vm = pixelfed()
    assert again["id"] == bucket["id"] and set(objects) <= {o["key"] for o in again["objects"]}, "switched on again, the data is there"
    assert list(again["keys"]) == keys and len(keys) == 1, "with a new key of its own"
    assert (again_vm["vmid"], again_vm["status"]) == (vm["vmid"], "running")

    deploy(running.api.post("/api/v1/services/pixelfed/disable", json={"data": "delete"}, headers=soylent))
    assert pixelfed() == (None, [], None), "bucket, objects, key and VM are gone"
    assert [b for b in running.garage_inventory()["buckets"] if "fedi-soylent-mastodon" in b["aliases"]], "mastodon's stays"
