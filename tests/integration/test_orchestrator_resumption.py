"""The orchestrator killed right before and right after each of its side effects (a VM clone,
reconfiguration, resize, start, reboot, shutdown, stop, destroy; a DNS zone and record; a NixOS deploy, and
between its secrets' delivery and its switch; each
command to storage and identity; the sweep of an operator's other machines at the end of its removal)
and started again: the deployment resumes where it stopped and ends with exactly the planned
resources, none twice and none left over."""

import pytest

from sandbox.nixos_target import records
from tests.integration.test_orchestrator_support import plan, removal, resources, world  # noqa: F401

pytestmark = pytest.mark.integration


def around(*effects: str) -> list[str]:
    return [f"{moment}:{effect}" for effect in effects for moment in ("before", "after")]


def sending(*commands: str) -> list[str]:
    """Commands sent in one pass are committed together, so one crash comes right after them all."""
    return [*(f"before:{command}" for command in commands), f"after:{commands[0]}"]


CREATING = around("vm.clone", "vm.configure", "vm.resize", "vm.start", "dns.zone", "dns.replace", "nixos.deploy") + ["after:nixos.secrets"] + sending(
    "sshkey.request", "bucket.request", "account.request", "mail.request"
)
UPDATING = around("vm.configure", "vm.resize", "vm.reboot", "nixos.deploy") + ["after:nixos.secrets"]
REPLACING = around("vm.shutdown", "vm.retire", "vm.clone", "vm.start", "dns.replace", "nixos.deploy")
DELETING = around("dns.delete", "vm.shutdown", "vm.destroy") + sending("sshkey.delete", "account.delete", "bucket.delete", "mail.delete")
REMOVING = DELETING + sending("directory.delete", "storage.delete")
"""An operator's removal ends with its directory at identity and what else storage holds for it."""
SWEEPING = around("vm.shutdown", "vm.destroy")
"""...and with every other machine of the operator destroyed: kept ones, replaced ones, running strays."""
STOPPING = around("vm.stop", "vm.destroy")
"""A guest that ignores the shutdown request is stopped after the timeout, then destroyed."""
KEEPING = around("dns.delete", "vm.shutdown", "vm.keep") + sending("account.delete", "bucket.delete", "mail.delete")


def test_a_new_deployment_killed_at_every_side_effect_resumes_without_a_second_vm_or_record(world):
    w = world
    w.crash_at(*CREATING)
    w.start()
    w.bus.publish(plan("acme", 1, resources("acme")))
    assert w.finish_through_crashes("acme-rev1") == "succeeded", w.reason("acme-rev1")

    assert sorted(w.crashes()) == sorted(CREATING), "the orchestrator was killed at every point"
    (vm,) = w.proxmox_vms()
    assert vm["status"] == "running" and "fedi-res-acme.mastodon.vm" in vm["tags"]
    assert w.records("acme.example.") == {("mastodon.acme.example.", "A"): (vm["ip"],)}
    assert records(w.nixos_state)["acme-mastodon"]["address"] == vm["ip"]
    assert set(w.stand_in.buckets) == {"fedi-acme-mastodon"} and set(w.stand_in.sshkeys) == {"acme-deploy"}
    assert {rid: r["state"] for rid, r in w.recorded().items()} == {r["id"]: "ready" for r in resources("acme")}
    assert len(w.bus.of("acme-rev1", "vm.provisioned")) == 1


def test_an_update_killed_at_every_side_effect_resizes_and_reboots_the_same_vm(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    (before,) = w.proxmox_vms()
    w.stop()

    w.crash_at(*UPDATING)
    w.start()
    bigger = resources("acme", cores=4, memory=4096, disk=30)
    w.bus.publish(plan("acme", 2, bigger, before=first))
    assert w.finish_through_crashes("acme-rev2") == "succeeded", w.reason("acme-rev2")

    assert sorted(w.crashes()) == sorted(UPDATING)
    (after,) = w.proxmox_vms()
    assert after["vmid"] == before["vmid"]
    assert (after["cores"], after["memory"], after["disks"]["scsi0"]) == (4, 4096, "30G")
    (updated,) = w.bus.of("acme-rev2", "vm.updated")
    assert set(updated.changed) == {"cores", "memory_mib", "disk_gib"} and updated.rebooted


def test_a_replacement_killed_at_every_side_effect_ends_with_one_new_vm_and_the_old_one_kept(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    w.stop()

    w.crash_at(*REPLACING)
    w.start()
    w.bus.publish(plan("acme", 2, first, before=first, replace=("acme/mastodon/vm",)))
    assert w.finish_through_crashes("acme-rev2") == "succeeded", w.reason("acme-rev2")

    assert sorted(w.crashes()) == sorted(REPLACING)
    (vm,) = [vm for vm in w.proxmox_vms() if "fedi-replaced" not in vm["tags"]]
    (kept,) = [vm for vm in w.proxmox_vms() if "fedi-replaced" in vm["tags"]]
    assert kept["status"] == "stopped" and vm["status"] == "running"
    assert w.records("acme.example.") == {("mastodon.acme.example.", "A"): (vm["ip"],)}
    assert w.recorded()["acme/mastodon/vm"]["vmid"] == vm["vmid"]


def test_an_account_removal_killed_at_every_side_effect_leaves_nothing_behind(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    w.stop()

    w.crash_at(*REMOVING)
    w.start()
    w.bus.publish(removal("acme", 2, first))
    assert w.finish_through_crashes("acme-rev2") == "succeeded", w.reason("acme-rev2")

    assert sorted(w.crashes()) == sorted(REMOVING)
    assert w.proxmox_vms() == [] and w.records("acme.example.") == {}
    assert (w.stand_in.buckets, w.stand_in.accounts, w.stand_in.sshkeys, w.stand_in.directories) == ({}, {}, {}, set())
    assert w.recorded() == {}


def test_an_account_removal_killed_while_sweeping_the_operators_other_machines_destroys_and_names_each(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    assert w.deploy(plan("acme", 2, first, before=first, replace=("acme/mastodon/vm",))) == "succeeded", w.reason("acme-rev2")
    switched_off = resources("acme", services=())
    assert w.deploy(plan("acme", 3, switched_off, before=first, data="keep")) == "succeeded", w.reason("acme-rev3")
    w.stray_vm("acme", "peertube")
    left = sorted((vm["vmid"], vm["name"]) for vm in w.proxmox_vms())
    assert [name for _, name in left] == ["acme-mastodon-replaced", "acme-mastodon", "acme-peertube"], "replaced, kept, a stray"
    w.stop()

    w.crash_at(*SWEEPING)
    w.start()
    w.bus.publish(removal("acme", 4, switched_off))
    assert w.finish_through_crashes("acme-rev4") == "succeeded", w.reason("acme-rev4")

    assert sorted(w.crashes()) == sorted(SWEEPING), "killed around the sweep's shutdown of the stray and its first destroy"
    assert w.proxmox_vms() == [] and w.recorded() == {}
    [report] = {p.detail for p in w.bus.of("acme-rev4", "deployment.progress") if p.step == "acme/_/machines" and p.state == "done"}
    assert report == "destroyed with their disks: " + ", ".join(f"VM {vmid} ({name})" for vmid, name in left), "those destroyed before a crash too"
    assert sorted(m.vmid for m in w.bus.of("acme-rev4", "vm.deleted")) == [vmid for vmid, _ in left]


def test_a_removal_of_a_vm_that_ignores_its_shutdown_killed_around_the_stop_and_destroy_leaves_nothing(world):
    w = world
    w.start()
    first = resources("acme")
    assert w.deploy(plan("acme", 1, first)) == "succeeded"
    w.stop()
    w.proxmox.set_latency("guest_shutdown", 60)  # longer than the orchestrator's shutdown timeout (1 s here)

    w.crash_at(*STOPPING)
    w.start()
    w.bus.publish(plan("acme", 2, [], before=first, data="delete"))
    assert w.finish_through_crashes("acme-rev2") == "succeeded", w.reason("acme-rev2")

    assert sorted(w.crashes()) == sorted(STOPPING)
    assert w.proxmox_vms() == [] and w.records("acme.example.") == {}
    assert w.recorded() == {}


def test_a_service_switched_off_keeping_its_data_killed_at_every_side_effect_keeps_one_vm_shut_down(world):
    w = world
    w.start()
    both = resources("acme", services=("mastodon", "pixelfed"))
    assert w.deploy(plan("acme", 1, both)) == "succeeded"
    (pixelfed,) = [vm for vm in w.proxmox_vms() if vm["name"] == "acme-pixelfed"]
    w.stop()

    w.crash_at(*KEEPING)
    w.start()
    w.bus.publish(plan("acme", 2, resources("acme", services=("mastodon",)), before=both, data="keep"))
    assert w.finish_through_crashes("acme-rev2") == "succeeded", w.reason("acme-rev2")

    assert sorted(w.crashes()) == sorted(KEEPING)
    (kept,) = [vm for vm in w.proxmox_vms() if vm["name"] == "acme-pixelfed"]
    assert (kept["vmid"], kept["status"]) == (pixelfed["vmid"], "stopped") and "fedi-kept" in kept["tags"]
    assert w.stand_in.buckets["fedi-acme-pixelfed"] == {"kept": True}
    assert w.recorded()["acme/pixelfed/vm"]["state"] == "kept"
