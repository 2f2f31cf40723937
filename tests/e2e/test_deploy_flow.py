"""The main flow on the real stack: nats-server from the wheel, the five services as processes,
the sandbox Proxmox / Garage / NixOS target. Tests run in order and build on each other's state."""

import asyncio
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import uuid
from collections import Counter

import nats
from nats.js.errors import NotFoundError
import pytest

from contracts import MalformedMessage, Message, decode, encode
from contracts.events import ConfigSubmitted
from contracts.requests import SecretReply
from contracts.subjects import STREAM
from sandbox.nixos_target import records
from sandbox.pdns import missing as pdns_missing
from services.orchestrator.adapters.dns import PowerDns
from services.storage.adapters.garage import GarageAdmin
from runtime.connection import connect_options
from runtime.event_chain import summary
from tests.conftest import ask_secret as secret_of
from tests.conftest import require
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


def events(stack) -> list[tuple[int, Message]]:
    """Every well-formed message of the stream, with its sequence, in order."""
    found = []
    for raw in stream_messages(stack):
        try:
            found.append((raw.seq, decode(raw.data)))
        except MalformedMessage:
            continue
    return found


def operator_events(stack, operator: str) -> list[tuple[int, Message]]:
    """The operator's messages (by the operator id of their envelope)."""
    return [(seq, message) for seq, message in events(stack) if message.operator_id == operator]


def rows(stack, service: str, query: str) -> list[tuple]:
    with sqlite3.connect(stack.home / service / f"{service}.db") as db:
        return sorted(db.execute(query).fetchall())


def holdings(running) -> dict[str, object]:
    """Everything deployments made, as the sandboxes serve it and as its owners keep it (secrets as stored, encrypted)."""
    stack = running.stack
    garage = running.garage_inventory()
    held = {
        "Proxmox VMs": running.proxmox_inventory(),
        "S3 buckets": garage["buckets"],
        "S3 access keys": garage["keys"],
        "NixOS generations": {name: record["generation"] for name, record in records(stack.sandbox / "nixos").items()},
        "admin accounts": rows(stack, "identity", "select resource_id, username, password_ref from accounts"),
        "mail relay accounts": rows(stack, "identity", "select resource_id, username, password_ref from relay_accounts"),
        "SSH deploy keys": rows(stack, "identity", "select resource_id, public_key, private_key_ref from ssh_keys"),
        "identity's secrets": rows(stack, "identity", "select id, ciphertext from secrets"),
        "storage's buckets and keys": rows(stack, "storage", "select resource_id, bucket_id, access_key_id, secret_ref from buckets"),
        "storage's secrets": rows(stack, "storage", "select id, ciphertext from secrets"),
        "orchestrator's resources": rows(stack, "orchestrator", "select resource_id, spec_hash, outputs_json from resource_states"),
    }
    if stack.dns:  # the stack runs without PowerDNS when it is not installed: records are then only recorded
        with PowerDns(stack.pdns.api_url, stack.pdns.api_key) as dns:
            held["DNS records"] = {zone: dns.rrsets(zone) for zone in dns.zones()}
    return held


def assert_unchanged(before: dict, after: dict) -> None:
    assert after.keys() == before.keys()
    for part, held in before.items():
        assert after[part] == held, f"{part} changed"


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


FLOW = ("config.submitted", "plan.created", "deployment.started", "deployment.progress", "vm.provisioned", "bucket.requested",
        "bucket.created", "account.requested", "account.created", "sshkey.requested", "sshkey.created", "dns.updated",
        "nixos.deployed", "deployment.succeeded")
"""What a new operator's first deployment puts on the stream."""
OF_NO_DEPLOYMENT = ("bucket.usage.reported",)
"""Messages about an operator that belong to no deployment (storage's periodic report)."""
TRACE_LINE = re.compile(r"^\s*[+-]\d+\.\d+s  (?P<producer>.{12}) (?P<indent> *)(?P<subject>\S+)(?P<summary>.*)$")
"""A line of `fedi trace`: time since the first event, producer, the subject indented under its cause's, what it is about."""


def test_every_event_of_the_deployment_shares_its_correlation_id_and_trace_prints_the_chain(running, first_deployment):
    deployment_id = first_deployment["id"]
    stream = events(running.stack)
    acmes = [(seq, m) for seq, m in stream if m.operator_id == "acme"]
    since, submitted = next((seq, m) for seq, m in acmes if m.type == "config.submitted" and m.revision == first_deployment["revision"])
    until = min((seq for seq, m in acmes if seq > since and m.type == "config.submitted"), default=float("inf"))
    ours = [m for seq, m in acmes if since <= seq < until and m.type not in OF_NO_DEPLOYMENT]
    caused = {str(submitted.event_id)}
    for _, message in stream:  # effects come after their causes
        if message.causation_id in caused:
            caused.add(str(message.event_id))

    assert {str(m.event_id) for m in ours} == caused, "the operator's events until its next submission are those its submission caused"
    assert {m.correlation_id for m in ours} == {deployment_id}, [(m.type, m.correlation_id) for m in ours if m.correlation_id != deployment_id]
    types = Counter(m.type for m in ours)
    assert set(types) >= set(FLOW), set(FLOW) - set(types)
    assert not [t for t in types if t.endswith((".failed", ".rejected"))], types
    assert (types["vm.provisioned"], types["bucket.created"], types["nixos.deployed"], types["deployment.succeeded"]) == (2, 2, 2, 1)

    trace = subprocess.run(
        [sys.executable, "-m", "fedi", "trace", deployment_id, "--home", str(running.stack.home)],
        capture_output=True, text=True, timeout=60,
    )
    assert trace.returncode == 0, trace.stderr
    printed = [TRACE_LINE.match(line) for line in trace.stdout.splitlines()]
    assert all(printed), trace.stdout
    depth = {}
    for m in ours:
        depth[str(m.event_id)] = 0 if m is submitted else depth[m.causation_id] + 1
    expected = Counter((depth[str(m.event_id)], m.producer, m.type, summary(m)) for m in ours)
    shown = Counter((len(line["indent"]) // 2, line["producer"].strip(), line["subject"], line["summary"]) for line in printed)
    assert shown == expected, "each event once, under the event that caused it"
    assert printed[0]["subject"] == "config.submitted"
    assert {m.producer for m in ours} == {"panel", "configurator", "orchestrator", "storage", "identity"}


def test_no_stream_log_or_database_holds_a_generated_secret_in_clear(running, acme, first_deployment):
    messages = stream_messages(running.stack)
    refs = {decode(m.data).secret_ref for m in messages if m.subject in ("bucket.created", "account.created", "sshkey.created")}
    assert len(refs) == 7, "two bucket keys, two admin passwords, two mail relay passwords, the operator's SSH deploy key"
    secrets = [ask_secret(running.stack, ref, "orchestrator").value for ref in refs]
    own_key = running.stack.home / "orchestrator" / "deploy_key"  # the orchestrator's own SSH deploy key
    assert stat.S_IMODE(own_key.stat().st_mode) == 0o600
    secrets += [own_key.read_text(), acme["Authorization"].removeprefix("Bearer ")]  # and the operator's API token
    assert all(secrets) and sum("PRIVATE KEY" in secret for secret in secrets) == 2
    # As written raw, and as a JSON string (a private key's line breaks escaped) in logs and events.
    forms = [form.encode() for secret in secrets for form in {secret, json.dumps(secret)[1:-1]}]
    everywhere = stream_messages(running.stack, streams=())  # the events, failure notes, advisories, audit log, traces
    assert {m.stream for m in everywhere} > {STREAM}
    for message in everywhere:
        everything = message.data + json.dumps(message.headers or {}).encode()
        assert not any(form in everything for form in forms), f"a secret leaked into {message.stream} {message.subject}"
    for log in running.stack.logs.glob("*.log"):
        text = log.read_bytes()
        assert not any(form in text for form in forms), f"a secret leaked into {log.name}"
    for database in running.stack.home.glob("*/*.db*"):  # each service's SQLite files, write-ahead log included
        stored = database.read_bytes()
        assert not any(form in stored for form in forms), f"a secret is stored in clear in {database}"


def test_a_service_that_may_not_read_a_secret_gets_nothing(running, first_deployment):
    relay_accounts = [decode(m.data) for m in stream_messages(running.stack) if m.subject == "account.created"]
    ref = next(account.secret_ref for account in relay_accounts if account.username != "alice")
    reply = ask_secret(running.stack, ref, "panel")
    assert reply.value is None and "may not read" in reply.error, "the panel reveals admin passwords, never relay passwords"


def test_resubmitting_the_same_configuration_creates_nothing_new(running, acme, first_deployment):
    before = holdings(running)

    response = running.submit(acme, mastodon_and_pixelfed())
    second = running.wait_for(acme, response.json()["deployment_id"])

    assert second["state"] == "succeeded"
    assert {c["action"] for c in second["changes"]} == {"unchanged"}
    assert {step["state"] for step in second["steps"].values()} == {"done"}
    every_detail = wait_until(
        lambda: _details(running.deployment(acme, second["id"])), 30, "every step's progress in the panel"
    )
    assert every_detail == {"unchanged"}
    assert_unchanged(before, holdings(running))
    assert len(before["S3 access keys"]) == 2 and len(before["mail relay accounts"]) == 2 and len(before["SSH deploy keys"]) == 1
    require(pdns_missing())  # the records PowerDNS serves were compared above only when it runs
    assert {r.name for r in before["DNS records"]["acme.example."]} >= {"mastodon.acme.example.", "pixelfed.acme.example."}


def _details(view: dict) -> set[str] | None:
    details = {step["detail"] for step in view["steps"].values()}
    return None if "" in details else details


def test_an_invalid_configuration_is_answered_with_field_reasons_and_nothing_is_provisioned(running, acme, first_deployment):
    before = holdings(running)
    last_seen = operator_events(running.stack, "acme")[-1][0]
    revision = max(d["revision"] for d in running.api.get("/api/v1/deployments", headers=acme).json())

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

    # A valid submission after them: whatever the panel had queued for the refused ones would reach the stream before it.
    after = running.wait_for(acme, running.submit(acme, mastodon_and_pixelfed()).json()["deployment_id"])
    assert after["state"] == "succeeded" and after["revision"] == revision + 1, "the refused ones took no revision"
    added = [m for seq, m in operator_events(running.stack, "acme") if seq > last_seen]
    assert added[0].type == "config.submitted" and {m.correlation_id for m in added} == {after["id"]}, "nothing was sent for them"
    assert_unchanged(before, holdings(running))


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
    sweep = running.step_when(umbrella, removal["id"], "umbrella/_/storage", "done", showing="fedi-umbrella-peertube")
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
