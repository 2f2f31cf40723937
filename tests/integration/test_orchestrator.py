"""The orchestrator against the Proxmox sandbox, a real pdns_server and the sandbox NixOS target, with
storage and identity played by a stand-in on the bus: create, update in place, replace, delete,
disable with keep and with delete, an account's removal, faults, superseded deployments."""

import copy
import json
import re
import shlex
import stat

import dns.message
import dns.query
import pytest

from sandbox.nixos_target import deploy_command, held, records, secrets_command
from tests.integration.test_deployer import recording
from tests.integration.test_orchestrator_support import plan, removal, resources, world  # noqa: F401

pytestmark = pytest.mark.integration


def ask_dns(w, name: str) -> list[str]:
    answer = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=w.pdns.dns_port, timeout=2)
    return sorted(item.address for rrset in answer.answer for item in rrset)


def test_a_plan_makes_every_resource_and_the_records_answer_over_dns(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded", w.reason("acme-rev1")

    (vm,) = w.vms("acme")
    assert vm["status"] == "running" and vm["cores"] == 2 and vm["memory"] == 2048 and vm["disks"]["scsi0"] == "20G"
    assert "fedi-res-acme.mastodon.vm" in vm["tags"]
    public_key = w.stand_in.sshkeys["acme-deploy"][0]
    assert public_key.split()[1] in vm["sshkeys"], "the operator's deploy key is in cloud-init"
    assert vm["ciuser"] == "root" and vm["ipconfig0"] == "ip=dhcp", "cloud-init's user and network"
    assert ask_dns(w, "mastodon.acme.example") == [vm["ip"]]
    assert records(w.nixos_state)["acme-mastodon"]["services"] == ["mastodon"]
    assert set(w.stand_in.buckets) == {"fedi-acme-mastodon"}
    assert set(w.stand_in.accounts) == {("mastodon", "alice", "admin"), ("mastodon", "acme-mastodon", "smtp")}

    known_hosts = (w.home / "orchestrator" / "deployments" / "acme-mastodon" / "known_hosts").read_text()
    host_key = w.proxmox.cluster.agent_file_read("pve1" if vm["node"] == "pve1" else vm["node"], vm["vmid"],
                                                 "/etc/ssh/ssh_host_ed25519_key.pub")["content"]
    assert known_hosts.split() == [vm["ip"], *host_key.split()[:2]], "the host key learned at provisioning is pinned"

    events = {m.type for m in w.bus.of("acme-rev1")}
    assert {"vm.provisioned", "dns.updated", "nixos.deployed", "sshkey.requested", "deployment.succeeded"} <= events
    progress = w.bus.of("acme-rev1", "deployment.progress")
    assert progress[-1].done == progress[-1].total == len(first)
    assert any(p.detail.startswith(("building", "copying", "activating", "setting")) for p in progress), "deploy output streams"
    assert all(p.eta_seconds is not None for p in progress)

    again = w.deploy(plan("acme", 2, first, before=first))
    assert again == "succeeded"
    assert {p.detail for p in w.bus.of("acme-rev2", "deployment.progress")} == {"unchanged"}
    assert len(w.vms("acme")) == 1


def held_by(w, vm: dict) -> dict[str, str]:
    folder = held(w.nixos_state, vm["ip"])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in folder.iterdir())
    return {path.name: path.read_text() for path in folder.iterdir()}


def without_mail(planned: list[dict]) -> list[dict]:
    """The same plan with the services' mail switched off: no relay account, no SMTP settings."""
    out = [copy.deepcopy(r) for r in planned if r["kind"] != "mail"]
    for r in out:
        r["depends_on"] = [d for d in r["depends_on"] if not d.endswith("/mail")]
        if r["kind"] == "nixos":
            r["spec"]["config"]["fediversity"][r["service"]].pop("smtp")
    return out


def test_the_vm_holds_exactly_the_secrets_its_configuration_refers_to(world):
    world.start()
    with_mail = resources("acme")
    assert world.deploy(plan("acme", 1, with_mail)) == "succeeded", world.reason("acme-rev1")
    assert held_by(world, *world.vms("acme")) == {
        "mastodon-s3-secret": "s3-secret-of-fedi-acme-mastodon",
        "mastodon-admin-password": "password-of-alice",
        "mastodon-smtp-password": "password-of-acme-mastodon",
    }

    assert world.deploy(plan("acme", 2, without_mail(with_mail), before=with_mail)) == "succeeded", world.reason("acme-rev2")
    assert set(held_by(world, *world.vms("acme"))) == {"mastodon-s3-secret", "mastodon-admin-password"}, \
        "the SMTP password is gone from the VM"
    assert records(world.nixos_state)["acme-mastodon"]["generation"] == 2


def deployed_json(w, vm: dict) -> dict:
    """The per-VM JSON the orchestrator last deployed onto that VM."""
    return json.loads((w.home / "orchestrator" / "deployments" / vm["name"] / "vms" / f"{vm['name']}.json").read_text())


def test_with_the_directory_on_every_vm_of_the_operator_holds_its_readers_password_and_loses_it_when_switched_off(world):
    world.start()
    signed_in = resources("acme", services=("mastodon", "pixelfed"), directory=True)
    assert world.deploy(plan("acme", 1, signed_in)) == "succeeded", world.reason("acme-rev1")

    asked = [m for m in world.bus.of("acme-rev1", "account.requested") if m.purpose == "reader"]
    assert [(m.resource_id, m.service, m.username) for m in asked] == [("acme/_/account/reader", "_", "reader")], "one per operator"
    vms = world.vms("acme")
    assert len(vms) == 2
    for vm in vms:
        service = vm["name"].removeprefix("acme-")
        held = held_by(world, vm)
        assert held["ldap-bind-password"] == "password-of-reader"
        assert held[f"{service}-admin-password"] == "password-of-alice", "the reader is no service's admin"
        settings = deployed_json(world, vm)["fediversity"][service]
        assert settings["ldap"]["bindPasswordFile"] == "/run/fediversity/secrets/ldap-bind-password"
        assert settings["admin"]["username"] == "alice"

    without = resources("acme", services=("mastodon", "pixelfed"))
    assert world.deploy(plan("acme", 2, without, before=signed_in)) == "succeeded", world.reason("acme-rev2")
    assert ("_", "reader", "reader") not in world.stand_in.accounts, "identity was asked to delete the reader"
    assert [m.purpose for m in world.bus.of("acme-rev2", "account.deletion.requested")] == ["reader"]
    assert all("ldap-bind-password" not in held_by(world, vm) for vm in world.vms("acme"))


def test_a_vm_told_to_bind_as_the_reader_without_its_password_is_not_deployed(world):
    world.start()
    no_reader = [r for r in resources("acme", directory=True) if r["id"] != "acme/_/account/reader"]
    for r in no_reader:
        r["depends_on"] = [d for d in r["depends_on"] if d != "acme/_/account/reader"]

    assert world.deploy(plan("acme", 1, no_reader)) == "failed"
    assert ("fediversity.mastodon.ldap.bindPasswordFile refers to /run/fediversity/secrets/ldap-bind-password, "
            "but no such file was delivered to") in world.reason("acme-rev1")


def test_a_deployment_whose_secrets_never_reach_the_vm_fails_saying_which(world):
    w = world
    w.start(SECRETS_COMMAND="true")
    assert w.deploy(plan("acme", 1, resources("acme"))) == "failed"
    assert ("fediversity.mastodon.s3.secretAccessKeyFile refers to /run/fediversity/secrets/mastodon-s3-secret, "
            "but no such file was delivered to") in w.reason("acme-rev1")
    assert records(w.nixos_state) == {}


def test_no_secret_appears_in_any_command_line_event_or_log(world):
    w = world
    calls = w.home / "calls.jsonl"
    w.start(DEPLOY_COMMAND=shlex.join(recording(deploy_command(w.nixos_state), calls)),
            SECRETS_COMMAND=shlex.join(recording(secrets_command(w.nixos_state), calls)), LOG_LEVEL="DEBUG")
    assert w.deploy(plan("acme", 1, resources("acme"))) == "succeeded", w.reason("acme-rev1")

    secrets = [line for value in w.stand_in.secrets.values() for line in value.splitlines() if "-----" not in line]
    assert len(calls.read_text().splitlines()) == 2, "the secrets command and the deploy command ran"
    seen = {"argv and environment": calls.read_text(), "orchestrator log": (w.home / "orchestrator.log").read_text(),
            **{f"event {m.type}": m.model_dump_json() for m in w.bus.of("acme-rev1")}}
    assert [(where, secret) for where, text in seen.items() for secret in secrets if secret in text] == []


def test_an_update_in_place_resizes_the_vm_and_reboots_it_only_for_cores_or_memory(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    (before,) = w.vms("acme")

    bigger_disk = resources("acme", disk=30)
    assert w.deploy(plan("acme", 2, bigger_disk, before=first)) == "succeeded", w.reason("acme-rev2")
    (updated,) = w.bus.of("acme-rev2", "vm.updated")
    assert updated.changed == ("disk_gib",) and not updated.rebooted

    more = resources("acme", cores=4, memory=4096, disk=30)
    assert w.deploy(plan("acme", 3, more, before=bigger_disk)) == "succeeded", w.reason("acme-rev3")
    (updated,) = w.bus.of("acme-rev3", "vm.updated")
    assert set(updated.changed) == {"cores", "memory_mib"} and updated.rebooted
    (after,) = w.vms("acme")
    assert after["vmid"] == before["vmid"], "updated in place, not re-made"
    assert (after["cores"], after["memory"], after["disks"]["scsi0"]) == (4, 4096, "30G")
    assert records(w.nixos_state)["acme-mastodon"]["generation"] == 3, "the new size reached the NixOS configuration"


def test_a_replaced_vm_is_made_again_with_a_new_host_key_its_record_follows_and_the_old_one_is_kept_with_its_disk(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    (old,) = w.vms("acme")
    old_key = (w.home / "orchestrator/deployments/acme-mastodon/known_hosts").read_text()

    assert w.deploy(plan("acme", 2, first, before=first, replace=("acme/mastodon/vm",))) == "succeeded", w.reason("acme-rev2")
    (new,) = [vm for vm in w.vms("acme") if "fedi-replaced" not in vm["tags"]]
    (kept,) = [vm for vm in w.vms("acme") if "fedi-replaced" in vm["tags"]]
    assert (kept["vmid"], kept["status"], kept["name"]) == (old["vmid"], "stopped", "acme-mastodon-replaced"), (
        "the old machine's disk holds the database: shut down and kept, not destroyed"
    )
    assert [m.vmid for m in w.bus.of("acme-rev2", "vm.updated")] == [old["vmid"]]
    assert w.bus.of("acme-rev2", "vm.deleted") == []
    assert [m.vmid for m in w.bus.of("acme-rev2", "vm.provisioned")] == [new["vmid"]]
    assert ask_dns(w, "mastodon.acme.example") == [new["ip"]]
    assert (w.home / "orchestrator/deployments/acme-mastodon/known_hosts").read_text() != old_key
    assert records(w.nixos_state)["acme-mastodon"]["address"] == new["ip"]


@pytest.mark.parametrize("choice", ["keep", "delete"])
def test_disabling_a_service_removes_its_vm_records_and_accounts_and_keeps_or_deletes_its_data(world, choice):
    w = world
    w.start()
    both = resources("acme", services=("mastodon", "pixelfed"))
    assert w.deploy(plan("acme", 1, both)) == "succeeded", w.reason("acme-rev1")
    only_mastodon = resources("acme", services=("mastodon",))

    pixelfed_vm = next(vm for vm in w.vms("acme") if vm["name"] == "acme-pixelfed")

    assert w.deploy(plan("acme", 2, only_mastodon, before=both, data=choice)) == "succeeded", w.reason("acme-rev2")
    assert ("pixelfed.acme.example.", "A") not in w.records("acme.example.")
    assert ask_dns(w, "pixelfed.acme.example") == []
    assert set(w.stand_in.accounts) == {("mastodon", "alice", "admin"), ("mastodon", "acme-mastodon", "smtp")}
    deletions = {m.type for m in w.bus.of("acme-rev2")}
    assert {"bucket.deletion.requested", "account.deletion.requested"} <= deletions
    if choice == "keep":
        assert w.stand_in.buckets["fedi-acme-pixelfed"] == {"kept": True}
        [kept] = [vm for vm in w.vms("acme") if vm["name"] == "acme-pixelfed"]
        assert (kept["vmid"], kept["status"]) == (pixelfed_vm["vmid"], "stopped"), "shut down, its disk (the database) kept"
        assert "fedi-kept" in kept["tags"]
        assert {rid: r["state"] for rid, r in w.recorded().items() if rid.startswith("acme/pixelfed/")} == {"acme/pixelfed/vm": "kept"}

        assert w.deploy(plan("acme", 3, both, before=only_mastodon)) == "succeeded", w.reason("acme-rev3")
        [back] = [vm for vm in w.vms("acme") if vm["name"] == "acme-pixelfed"]
        assert (back["vmid"], back["status"]) == (pixelfed_vm["vmid"], "running"), "switched on again: the same VM and disk"
        assert "fedi-kept" not in back["tags"]
    else:
        assert "fedi-acme-pixelfed" not in w.stand_in.buckets
        assert [vm["name"] for vm in w.vms("acme")] == ["acme-mastodon"]
        assert "vm.deleted" in deletions
        assert not any(rid.startswith("acme/pixelfed/") for rid in w.recorded())


def test_a_vm_is_never_destroyed_without_an_explicit_choice(world):
    w = world
    w.start()
    both = resources("acme", services=("mastodon", "pixelfed"))
    assert w.deploy(plan("acme", 1, both)) == "succeeded"
    assert w.deploy(plan("acme", 2, resources("acme"), before=both, data=None)) == "failed"
    assert "keep or delete" in w.reason("acme-rev2")
    assert [vm["status"] for vm in w.vms("acme") if vm["name"] == "acme-pixelfed"] == ["running"]


def test_a_bucket_is_never_deleted_without_an_explicit_choice(world):
    w = world
    w.start()
    both = resources("acme", services=("mastodon", "pixelfed"))
    assert w.deploy(plan("acme", 1, both)) == "succeeded"
    assert w.deploy(plan("acme", 2, resources("acme"), before=both, data=None)) == "failed"
    assert "keep or delete" in w.reason("acme-rev2")
    assert "fedi-acme-pixelfed" in w.stand_in.buckets


def test_removing_everything_leaves_nothing_behind(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    assert w.deploy(plan("acme", 2, [], before=first, data="delete")) == "succeeded", w.reason("acme-rev2")
    assert w.vms("acme") == []
    assert w.records("acme.example.") == {}
    assert (w.stand_in.buckets, w.stand_in.accounts, w.stand_in.sshkeys) == ({}, {}, {})
    assert w.recorded() == {}


def test_an_operators_removal_asks_identity_to_remove_its_directory_once_its_accounts_are_gone(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    assert w.stand_in.directories == {"acme"}

    assert w.deploy(removal("acme", 2, first)) == "succeeded", w.reason("acme-rev2")

    assert w.stand_in.directories == set() and w.stand_in.accounts == {} and w.vms("acme") == []
    messages = w.bus.of("acme-rev2")
    sent = [i for i, m in enumerate(messages) if m.type == "directory.removal.requested"]
    identity_done = [i for i, m in enumerate(messages) if m.type in ("account.deleted", "sshkey.deleted")]
    assert len(sent) == 1 and len(identity_done) == 3 and max(identity_done) < sent[0], "the directory goes after its accounts"
    step = [p for p in w.bus.of("acme-rev2", "deployment.progress") if p.step == "acme/_/directory" and p.state == "done"]
    assert step and step[-1].detail.startswith("1 directory entries"), "identity's report shows in the step"
    assert w.recorded() == {}


def test_an_operators_removal_asks_storage_for_whatever_else_it_holds_once_the_planned_buckets_are_gone(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    w.stand_in.buckets["fedi-acme-peertube"] = {"kept": True}  # PeerTube switched off long ago, with its data kept

    assert w.deploy(removal("acme", 2, first)) == "succeeded", w.reason("acme-rev2")

    assert w.stand_in.buckets == {}
    messages = w.bus.of("acme-rev2")
    sent = [i for i, m in enumerate(messages) if m.type == "storage.removal.requested"]
    buckets_done = [i for i, m in enumerate(messages) if m.type == "bucket.deleted"]
    assert len(sent) == 1 and len(buckets_done) == 1 and buckets_done[0] < sent[0], "storage sweeps after the planned buckets went"
    assert messages[sent[0]].resource_id == "acme/_/storage"
    step = [p for p in w.bus.of("acme-rev2", "deployment.progress") if p.step == "acme/_/storage" and p.state == "done"]
    assert step and step[-1].detail == "removed buckets fedi-acme-peertube (0 objects, 0 bytes)", "storage's report shows in the step"


def swept(w, deployment_id: str) -> str:
    """What the removal's sweep of the operator's other machines reported."""
    done = [p for p in w.bus.of(deployment_id, "deployment.progress") if p.step.endswith("/_/machines") and p.state == "done"]
    assert done, "the sweep of the operator's other machines finished"
    return done[-1].detail


def test_an_account_removal_destroys_every_machine_left_of_the_operator_kept_and_replaced_ones_included(world):
    w = world
    w.start()
    both = resources("acme", services=("mastodon", "pixelfed"))
    assert w.deploy(plan("acme", 1, both)) == "succeeded", w.reason("acme-rev1")
    assert w.deploy(plan("acme", 2, both, before=both, replace=("acme/mastodon/vm",))) == "succeeded", w.reason("acme-rev2")
    only_mastodon = resources("acme", services=("mastodon",))
    assert w.deploy(plan("acme", 3, only_mastodon, before=both, data="keep")) == "succeeded", w.reason("acme-rev3")
    [replaced] = [vm for vm in w.vms("acme") if "fedi-replaced" in vm["tags"]]
    [kept] = [vm for vm in w.vms("acme") if vm["name"] == "acme-pixelfed"]
    [running] = [vm for vm in w.vms("acme") if vm["name"] == "acme-mastodon"]
    w.stray_vm("acme-corp", "mastodon")

    assert w.deploy(removal("acme", 4, only_mastodon)) == "succeeded", w.reason("acme-rev4")

    assert w.vms("acme") == [], "no disk of the operator's is left on Proxmox"
    assert [vm["name"] for vm in w.proxmox_vms()] == ["acme-corp-mastodon"], "another operator's machine stays"
    leftovers = sorted((replaced, kept), key=lambda vm: vm["vmid"])
    assert swept(w, "acme-rev4") == "destroyed with their disks: " + ", ".join(f"VM {vm['vmid']} ({vm['name']})" for vm in leftovers)
    assert sorted(m.vmid for m in w.bus.of("acme-rev4", "vm.deleted")) == sorted(vm["vmid"] for vm in (replaced, kept, running))
    destroyed = [t for t in w.proxmox.cluster.tasks.values() if t["type"] == "qmdestroy" and int(t["id"]) in (replaced["vmid"], kept["vmid"])]
    assert len(destroyed) == 2 and all(t["args"]["purge"] == 1 for t in destroyed), "destroyed with their disks, out of jobs and HA"
    assert w.recorded() == {}, "the record of the kept machine went with it"


def test_a_removal_fails_saying_what_storage_could_not_remove(world):
    w = world
    w.start()
    w.stand_in.buckets["fedi-acme-pixelfed"] = {"kept": True, "refused": "Garage refused: keys storage did not make"}

    assert w.deploy(removal("acme", 1, [])) == "failed"
    assert w.reason("acme-rev1") == "acme/_/storage: fedi-acme-pixelfed was not removed: Garage refused: keys storage did not make"
    assert "fedi-acme-pixelfed" in w.stand_in.buckets


@pytest.mark.parametrize("fault", ["lock_timeout", "http_500", "http_596", "reset", "slow", "warnings"])
def test_transient_proxmox_faults_are_retried_until_the_deployment_succeeds(world, fault):
    w = world
    for op in ("qmclone", "qmconfig", "qmstart", "resources", "task_status", "agent", "nextid"):
        w.proxmox.inject_fault(op, fault, count=2, seconds=0.5)
    w.start()
    assert w.deploy(plan("acme", 1, resources("acme")), timeout=90) == "succeeded", w.reason("acme-rev1")
    assert len(w.vms("acme")) == 1


def test_a_permanent_proxmox_error_fails_the_step_with_the_backends_message_and_keeps_what_was_made(world):
    w = world
    w.start()
    first = resources("acme", disk=30)
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    smaller = resources("acme", disk=20)
    assert w.deploy(plan("acme", 2, smaller, before=first)) == "failed"
    assert "shrinking disks is not supported" in w.reason("acme-rev2")
    assert w.recorded()["acme/mastodon/vm"]["vmid"] == w.vms("acme")[0]["vmid"]


def test_a_storage_proxmox_does_not_have_fails_the_deployment_with_proxmoxs_own_message_and_keeps_what_was_made(world):
    w = world
    w.start(PROXMOX_STORAGE="ceph-fast")  # the provider named a storage that no node has

    assert w.deploy(plan("acme", 1, resources("acme"))) == "failed"

    reason = w.reason("acme-rev1")
    assert reason.startswith("acme/mastodon/vm: cloning VM ") and reason.endswith(": 500 storage 'ceph-fast' does not exist"), reason
    assert w.proxmox_vms() == []
    made = {"acme/_/sshkey", "acme/mastodon/bucket", "acme/mastodon/account", "acme/mastodon/mail"}
    assert {rid: r["state"] for rid, r in w.recorded().items()} == dict.fromkeys(made, "ready")
    assert set(w.stand_in.buckets) == {"fedi-acme-mastodon"} and set(w.stand_in.sshkeys) == {"acme-deploy"}


def test_a_transient_proxmox_fault_that_outlasts_the_retry_deadline_fails_the_step_saying_it_kept_failing(world):
    w = world
    w.proxmox.inject_fault("qmclone", "http_596", rate=1.0)  # every clone, for ever
    w.start(TRANSIENT_DEADLINE_SECONDS="2")

    assert w.deploy(plan("acme", 1, resources("acme"))) == "failed"

    reason = w.reason("acme-rev1")
    assert re.fullmatch(r"acme/mastodon/vm: kept failing for \d+s \(\d+ attempts\), so it was given up; "
                        r"the last error: cloning VM \d+: 596 Connection timed out", reason), reason
    assert w.proxmox_vms() == []
    assert {rid for rid, r in w.recorded().items() if r["state"] == "ready"} == {
        "acme/_/sshkey", "acme/mastodon/bucket", "acme/mastodon/account", "acme/mastodon/mail"}


def test_the_time_left_is_estimated_from_how_long_earlier_steps_took(world):
    w = world
    w.start()

    def first_estimate(deployment_id: str) -> float:
        return next(m.eta_seconds for m in w.bus.of(deployment_id, "deployment.progress") if m.eta_seconds is not None)

    assert w.deploy(plan("acme", 1, resources("acme"))) == "succeeded"
    w.stop()  # the measurements are kept with the steps, and a restarted orchestrator reads them
    w.start()
    assert w.deploy(plan("globex", 1, resources("globex"))) == "succeeded"

    unmeasured, measured = first_estimate("acme-rev1"), first_estimate("globex-rev1")
    assert unmeasured >= 180, "before anything was measured: a minute per VM, two per NixOS deploy"
    assert measured < 30, f"once measured, the sandbox's quick steps: {measured:.1f} s left, not {unmeasured:.0f} s"


def deploy_at_once(w, count: int) -> list[str]:
    """`count` operators' first deployments, submitted together; each must succeed."""
    operators = [f"op{n}" for n in range(count)]
    for operator in operators:
        w.bus.publish(plan(operator, 1, resources(operator)))
    assert {op: w.finish(f"{op}-rev1", timeout=120) for op in operators} == dict.fromkeys(operators, "succeeded")
    return operators


def test_independent_steps_run_at_once_but_never_more_clones_on_a_node_than_its_limit(world):
    w = world
    w.proxmox.set_latency("qmclone", 0.5)
    w.start(CLONE_LIMIT_PER_NODE="2", PARALLELISM="16")

    operators = deploy_at_once(w, 8)

    clones = {node: peak for (node, kind), peak in w.proxmox.cluster.peaks.items() if kind == "qmclone" and node != "*"}
    assert max(clones.values()) == 2, f"two clones at once on a node, never three: {clones}"
    assert len(w.vms()) == len(operators)


def test_no_more_steps_run_at_once_than_the_global_bound(world):
    w = world
    w.proxmox.set_latency("qmclone", 0.5)
    w.start(CLONE_LIMIT_PER_NODE="8", PARALLELISM="3")

    deploy_at_once(w, 6)

    at_once = w.proxmox.cluster.peaks["*", "qmclone"]
    assert 2 <= at_once <= 3, f"{at_once} clones at once with room for 8 per node: the bound of 3 running steps holds"


def test_a_command_its_owner_gave_up_on_fails_its_step_at_once_with_the_owners_reason(world):
    w = world
    w.stand_in.gives_up["bucket.requested"] = "Unavailable: Garage did not answer: 503 ServiceUnavailable"
    w.start(COMMAND_TIMEOUT_SECONDS="3600")

    assert w.deploy(plan("acme", 1, resources("acme")), timeout=30) == "failed"

    assert w.reason("acme-rev1") == (
        "acme/mastodon/bucket: storage gave up on it: Unavailable: Garage did not answer: 503 ServiceUnavailable. "
        "It is kept as a dead letter; once the cause is fixed, retry the deployment"
    )
    w.stand_in.gives_up.clear()
    assert w.deploy(plan("acme", 2, resources("acme"))) == "succeeded", "trying again makes it"
    assert set(w.stand_in.buckets) == {"fedi-acme-mastodon"}


def test_a_command_nobody_answers_fails_its_step_after_the_command_timeout_and_nixos_is_not_deployed(world):
    w = world
    w.stand_in.ignores.add("bucket.requested")
    w.start(COMMAND_TIMEOUT_SECONDS="2")

    assert w.deploy(plan("acme", 1, resources("acme")), timeout=30) == "failed"

    assert w.reason("acme-rev1") == "acme/mastodon/bucket: storage did not answer within 2s"
    assert records(w.nixos_state) == {}, "NixOS needs the bucket's key: it is not deployed"


def test_a_vm_id_taken_by_someone_else_between_nextid_and_the_clone_is_given_up_for_the_next_one(world):
    w = world
    w.proxmox.inject_fault("qmclone", "id_taken", count=2)
    w.start()

    assert w.deploy(plan("acme", 1, resources("acme"))) == "succeeded", w.reason("acme-rev1")

    names = sorted(vm["name"] for vm in w.proxmox_vms())
    assert names[0] == "acme-mastodon" and len(names) == 3 and all(n.startswith("someone-elses-") for n in names[1:])
    (ours,) = w.vms("acme")
    assert w.recorded()["acme/mastodon/vm"]["vmid"] == ours["vmid"]
    assert all(not vm["tags"] for vm in w.proxmox_vms() if vm["name"].startswith("someone-elses-")), "theirs are left alone"


def test_a_vm_that_carries_our_tags_is_adopted_instead_of_cloned_again(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    (vm,) = w.vms("acme")
    (w.home / "orchestrator" / "orchestrator.db").unlink()  # the orchestrator forgets everything it knew
    for suffix in ("-wal", "-shm"):
        (w.home / "orchestrator" / f"orchestrator.db{suffix}").unlink(missing_ok=True)
    w.kill()
    w.start()
    assert w.deploy(plan("acme", 2, first)) == "succeeded", w.reason("acme-rev2")
    assert [v["vmid"] for v in w.vms("acme")] == [vm["vmid"]]


def test_later_deployments_queue_behind_the_running_one_and_a_superseded_one_is_cancelled(world):
    w = world
    w.proxmox.set_latency("qmclone", 1.0)
    w.start()
    first = resources("acme")
    w.bus.publish(plan("acme", 1, first))
    w.wait(lambda: w.bus.of("acme-rev1", "deployment.started"), 20, "the first deployment to start")
    w.bus.publish(plan("acme", 2, resources("acme", cores=3), before=first))
    w.bus.publish(plan("acme", 3, resources("acme", cores=4), before=first))
    assert w.finish("acme-rev2") == "cancelled"
    (cancelled,) = w.bus.of("acme-rev2", "deployment.cancelled")
    assert "superseded by revision 3" in cancelled.reason
    assert w.finish("acme-rev1") == "succeeded"
    assert w.finish("acme-rev3") == "succeeded"
    started = {m.correlation_id: m.occurred_at for m in w.bus.messages() if m.type == "deployment.started"}
    finished = {m.correlation_id: m.occurred_at for m in w.bus.messages() if m.type == "deployment.succeeded"}
    assert started["acme-rev3"] >= finished["acme-rev1"], "one deployment at a time per operator"
    assert w.vms("acme")[0]["cores"] == 4


def test_a_vm_that_ignores_the_shutdown_request_is_stopped_after_the_timeout_and_destroyed(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    (vm,) = w.vms("acme")
    w.proxmox.set_latency("guest_shutdown", 30)  # longer than the orchestrator's shutdown timeout (1 s here)

    assert w.deploy(plan("acme", 2, [], before=first, data="delete")) == "succeeded", w.reason("acme-rev2")
    assert w.vms("acme") == []
    tasks = [t for t in w.proxmox.cluster.tasks.values() if t["id"] == str(vm["vmid"]) and t["type"] != "qmclone"]
    ends = [(t["type"], t["exitstatus"]) for t in sorted(tasks, key=lambda t: t["pid"]) if t["type"] != "qmconfig"]
    assert ends[-3:] == [("qmshutdown", "VM quit/powerdown failed - got timeout"), ("qmstop", "OK"), ("qmdestroy", "OK")]
    (destroyed,) = [t for t in tasks if t["type"] == "qmdestroy"]
    assert destroyed["args"]["purge"] == 1 and destroyed["args"]["destroy-unreferenced-disks"] == 1, "out of jobs and HA, no disk left"
