"""Fifty operators deploy at once on the whole stack while both sandboxes fail a fifth of their calls
(Proxmox: lock timeouts, 500s, 596s, dropped connections, slow tasks; Garage: 503s, and answers lost
after the call was done; PowerDNS as it comes) and the orchestrator is killed three times, storage
and identity once each: every deployment succeeds, and the sandboxes hold exactly what was planned,
one running VM with NixOS deployed and its name in DNS, one bucket with one key, one admin and one
relay account per operator, no duplicate and no orphan.

FEDI_CHAOS_OPERATORS sizes it (default 50)."""

import os
import sqlite3
from collections import Counter

import pytest

from sandbox.nixos_target import records
from services.orchestrator.adapters.dns import PowerDns
from sandbox.pdns import missing as pdns_missing
from tests.conftest import require
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.e2e

OPERATORS = int(os.environ.get("FEDI_CHAOS_OPERATORS", "50"))
PROXMOX_FAULTS = ("lock_timeout", "http_500", "http_596", "reset", "slow")
GARAGE_FAULTS = ("http_503", "lost_reply")
KILLS = ((0.2, ("orchestrator",)), (0.45, ("orchestrator", "storage")), (0.7, ("orchestrator", "identity")))
"""When (the share of operators whose VM exists) and what is killed."""


def rate(kinds: tuple[str, ...]) -> float:
    """Each kind at this rate, so that a call fails with one of them 20% of the time."""
    return 1 - 0.8 ** (1 / len(kinds))


def configuration(operator: str) -> dict:
    domain = f"{operator}.example"
    return {
        "domain": domain,
        "initialUser": {"username": "alice", "displayName": "Alice", "email": f"alice@{domain}"},
        "mastodon": {"enable": True},
    }


def test_fifty_operators_deploy_through_faults_and_crashes_and_get_exactly_what_was_planned(running):
    require(pdns_missing())
    operators = [f"chaos{n:02d}" for n in range(OPERATORS)]
    tokens = {operator: running.operator(operator) for operator in operators}
    for kind in PROXMOX_FAULTS:
        running.proxmox_control("faults", {"op": "*", "kind": kind, "rate": rate(PROXMOX_FAULTS), "seconds": 0.2})
    for kind in GARAGE_FAULTS:
        running.garage_fault("*", kind, rate=rate(GARAGE_FAULTS))

    deployments = {}
    for operator in operators:
        response = running.submit(tokens[operator], configuration(operator))
        assert response.status_code == 202, response.text
        deployments[operator] = response.json()["deployment_id"]

    def made_vms() -> int:
        return len({vm["name"] for vm in running.proxmox_inventory() if vm["name"].startswith("chaos")})

    def succeeded() -> int:
        return sum(running.deployment(tokens[op], deployments[op])["state"] == "succeeded" for op in operators)

    unfinished_at_kills = []
    for share, services in KILLS:
        wait_until(lambda: made_vms() >= share * OPERATORS, 300, f"{share:.0%} of the VMs")
        for service in services:
            running.stack.kill(service)
        unfinished_at_kills.append(OPERATORS - succeeded())
        for service in services:
            running.stack.start_service(service)
    finals = {op: running.wait_for(tokens[op], deployments[op], timeout=600) for op in operators}
    taken = running.clear_faults()

    assert {op: final["state"] for op, final in finals.items()} == dict.fromkeys(operators, "succeeded"), {
        op: final.get("error") or final for op, final in finals.items() if final["state"] != "succeeded"
    }
    assert all(unfinished_at_kills), f"each kill interrupted deployments in flight: {unfinished_at_kills}"
    assert set(taken["proxmox"]) == set(PROXMOX_FAULTS) and set(taken["garage"]) == set(GARAGE_FAULTS), taken

    vms = [vm for vm in running.proxmox_inventory() if vm["name"].startswith("chaos")]
    assert Counter(vm["name"] for vm in vms) == Counter(f"{op}-mastodon" for op in operators), "one VM per operator"
    assert all(vm["status"] == "running" and not vm.get("lock") for vm in vms)
    deployed = records(running.stack.sandbox / "nixos")
    with PowerDns(running.stack.pdns.api_url, running.stack.pdns.api_key) as dns:
        for vm in vms:
            operator = vm["name"].removesuffix("-mastodon")
            assert deployed[vm["name"]]["address"] == vm["ip"], "NixOS went onto the VM that was made"
            [host] = [r for r in dns.rrsets(f"{operator}.example.") if r.name == f"mastodon.{operator}.example." and r.type == "A"]
            assert host.contents == (vm["ip"],), "the service's name points at it"

    garage = running.garage_inventory()
    buckets = [b for b in garage["buckets"] if any(alias.startswith("fedi-chaos") for alias in b["aliases"])]
    assert sorted(alias for b in buckets for alias in b["aliases"]) == sorted(f"fedi-{op}-mastodon" for op in operators)
    keys = [k for k in garage["keys"] if k["name"].startswith("fedi-chaos")]
    assert sorted(k["name"] for k in keys) == sorted(f"fedi-{op}-mastodon" for op in operators), "one key per bucket, none left over"
    key_of = {k["name"]: k["id"] for k in keys}
    assert all(list(b["keys"]) == [key_of[b["aliases"][0]]] for b in buckets), "each bucket reachable by its own key only"

    with sqlite3.connect(running.stack.home / "identity" / "identity.db") as db:
        admins = db.execute("select operator_id, service, username from accounts where operator_id like 'chaos%'").fetchall()
        relays = db.execute("select operator_id, service from relay_accounts where operator_id like 'chaos%'").fetchall()
        ssh_keys = db.execute("select operator_id from ssh_keys where operator_id like 'chaos%'").fetchall()
    assert sorted(admins) == [(op, "mastodon", "alice") for op in operators]
    assert sorted(relays) == [(op, "mastodon") for op in operators]
    assert sorted(ssh_keys) == [(op,) for op in operators]
