"""Many operators deploying at once while Proxmox fails a fifth of its calls with transient errors
(lock timeouts, 500s, 596s, dropped connections, slow tasks) and the orchestrator is killed three
times: every deployment still succeeds and the sandbox holds exactly what was planned.

FEDI_CHAOS_OPERATORS sizes it (default 50)."""

import os

import pytest

from sandbox.nixos_target import records
from tests.integration.test_orchestrator_support import plan, resources, world  # noqa: F401

pytestmark = pytest.mark.integration

OPERATORS = int(os.environ.get("FEDI_CHAOS_OPERATORS", "50"))
FAULTS = ("lock_timeout", "http_500", "http_596", "reset", "slow")
RATE = 1 - 0.8 ** (1 / len(FAULTS))
"""Each kind at this rate, so that a call fails with one of them 20% of the time."""


def test_concurrent_deployments_through_transient_faults_and_three_crashes_all_succeed_with_exactly_the_planned_resources(world):
    w = world
    w.settings.update(PROXMOX_POLL_SECONDS="0.05", PROGRESS_INTERVAL_SECONDS="1", PARALLELISM="32")
    for kind in FAULTS:
        w.proxmox.inject_fault("*", kind, rate=RATE, seconds=0.2)
    operators = [f"op{n:02d}" for n in range(OPERATORS)]
    w.start()
    for operator in operators:
        w.bus.publish(plan(operator, 1, resources(operator)))

    unfinished_at_kills = []
    for share in (0.2, 0.45, 0.7):  # killed while VMs are being made, three times
        w.wait(lambda: len([m for m in w.bus.messages() if m.type == "vm.provisioned"]) >= share * OPERATORS, 240,
               f"{share:.0%} of the VMs")
        w.kill()
        unfinished_at_kills.append(OPERATORS - len([m for m in w.bus.messages() if m.type == "deployment.succeeded"]))
        w.start()
    outcomes = {op: w.finish(f"{op}-rev1", timeout=300) for op in operators}
    w.proxmox.clear_faults()

    assert outcomes == dict.fromkeys(operators, "succeeded"), {op: w.reason(f"{op}-rev1") for op in operators}
    assert all(unfinished_at_kills), "each kill interrupted deployments in flight"
    assert set(w.proxmox.faults.taken) == set(FAULTS), "every kind of fault was suffered"
    vms = w.proxmox_vms()
    assert sorted(vm["name"] for vm in vms) == sorted(f"{op}-mastodon" for op in operators), "one VM per operator, no more"
    assert all(vm["status"] == "running" and not vm["lock"] for vm in vms)
    deployed = records(w.nixos_state)
    for vm in vms:
        operator = vm["name"].removesuffix("-mastodon")
        assert w.records(f"{operator}.example.") == {(f"mastodon.{operator}.example.", "A"): (vm["ip"],)}
        assert deployed[vm["name"]]["address"] == vm["ip"]
    assert set(w.stand_in.buckets) == {f"fedi-{op}-mastodon" for op in operators}
    assert {a for a in w.stand_in.accounts if a[2] == "smtp"} == {("mastodon", f"{op}-mastodon", "smtp") for op in operators}
    assert set(w.stand_in.sshkeys) == {f"{op}-deploy" for op in operators}
    planned = {r["id"] for op in operators for r in resources(op)}
    assert {rid: r["state"] for rid, r in w.recorded().items()} == dict.fromkeys(planned, "ready")
