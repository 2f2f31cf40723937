"""After a change fails partway on the whole stack: trying it again once the cause is gone, or going
back to the last configuration that worked. Two operators run Mastodon, then switch PeerTube on while
the NixOS activation of PeerTube's new machine fails for good; one tries again, the other goes back."""

import json
import sqlite3
from collections import Counter

import pytest

from sandbox.nixos_target import records, state
from services.orchestrator.adapters.dns import PowerDns
from tests.e2e.conftest import deploy_all, mastodon

pytestmark = pytest.mark.e2e

RETRIES, GOES_BACK = "wayne", "stark"
"""The operator who tries the failed change again, and the one who goes back."""


def with_peertube(operator: str) -> dict:
    return mastodon(operator) | {"peertube": {"enable": True}}


def failing_activations(running, *operators: str) -> None:
    """The NixOS activation of these operators' PeerTube machines fails, every time, until changed."""
    state.set_failing(running.stack.sandbox / "nixos", [f"{operator}-peertube" for operator in operators])


def held_by(running, operator: str) -> dict[str, object]:
    """What the sandboxes and identity hold for the operator, by service where it has one."""
    stack = running.stack
    garage = running.garage_inventory()
    prefix = f"fedi-{operator}-"
    held = {
        "vms": {vm["name"]: vm for vm in running.proxmox_inventory() if vm["name"].startswith(f"{operator}-")},
        "buckets": {alias: bucket for bucket in garage["buckets"] for alias in bucket["aliases"] if alias.startswith(prefix)},
        "keys": Counter(key["name"] for key in garage["keys"] if key["name"].startswith(prefix)),
        "nixos": {name: record["generation"] for name, record in records(stack.sandbox / "nixos").items()
                  if name.startswith(f"{operator}-")},
    }
    with sqlite3.connect(stack.home / "identity" / "identity.db") as db:
        for table in ("accounts", "relay_accounts"):
            held[table] = Counter(
                service for (service,) in db.execute(f"select service from {table} where operator_id = ?", (operator,))
            )
    if stack.dns:
        with PowerDns(stack.pdns.api_url, stack.pdns.api_key) as dns:
            held["dns"] = {record.name for record in dns.rrsets(f"{operator}.example.")}
    return held


def boots(running) -> dict[int, float | None]:
    """When each sandbox VM was last started (a reboot or a stop and start changes it)."""
    saved = json.loads((running.stack.sandbox / "proxmox.json").read_text())
    return {int(vmid): vm["started"] for vmid, vm in saved["vms"].items()}


@pytest.fixture(scope="module")
def operators(running) -> dict[str, dict]:
    return {operator: running.operator(operator) for operator in (RETRIES, GOES_BACK)}


@pytest.fixture(scope="module")
def before_the_change(running, operators) -> dict[str, dict]:
    """Mastodon runs for both operators; what each held then."""
    ended = deploy_all(running, operators, mastodon)
    assert {operator: view["state"] for operator, view in ended.items()} == dict.fromkeys(operators, "succeeded"), ended
    return {operator: held_by(running, operator) for operator in operators}


@pytest.fixture(scope="module")
def failed(running, operators, before_the_change) -> dict[str, dict]:
    """Both operators' deployments that switch PeerTube on, failed at its NixOS activation."""
    failing_activations(running, *operators)
    try:
        ended = deploy_all(running, operators, with_peertube)
    finally:
        failing_activations(running)  # the cause is gone
    for operator, view in ended.items():  # the failed step's progress is the last the panel hears of it
        running.step_when(operators[operator], view["id"], f"{operator}/peertube/nixos", "failed")
    return {operator: running.deployment(operators[operator], view["id"]) for operator, view in ended.items()}


PEERTUBE_MADE = {"vm", "bucket", "account", "mail", "dns/host"}
"""What of PeerTube's the failed deployment made before its NixOS activation failed."""


def test_a_failed_change_says_the_backends_reason_and_records_what_it_made(running, failed):
    for operator, view in failed.items():
        assert view["state"] == "failed", view
        assert f"the activation of {operator}-peertube failed" in view["reason"], view["reason"]
        nixos = view["steps"][f"{operator}/peertube/nixos"]
        assert nixos["state"] == "failed" and f"the activation of {operator}-peertube failed" in nixos["detail"], nixos
        made = {step.removeprefix(f"{operator}/peertube/") for step, seen in view["steps"].items()
                if step.startswith(f"{operator}/peertube/") and seen["state"] == "done"}
        assert made == PEERTUBE_MADE, view["steps"]

        held = held_by(running, operator)
        vm = held["vms"][f"{operator}-peertube"]
        assert view["steps"][f"{operator}/peertube/vm"]["detail"] == f"VM {vm['vmid']} running at {vm['ip']}"
        assert list(held["buckets"][f"fedi-{operator}-peertube"]["keys"]) and held["keys"][f"fedi-{operator}-peertube"] == 1
        assert held["accounts"]["peertube"] == held["relay_accounts"]["peertube"] == 1
        assert f"{operator}-peertube" not in held["nixos"]
        if running.stack.dns:
            assert f"peertube.{operator}.example." in held["dns"]


def recover(running, auth: dict, deployment: dict, how: str) -> dict:
    response = running.api.post(f"/api/v1/deployments/{deployment['id']}/{how}", headers=auth)
    assert response.status_code == 202, response.text
    assert response.json()["revision"] == deployment["revision"] + 1, "a new revision"
    return running.wait_for(auth, response.json()["deployment_id"])


def assert_history_keeps_the_failure(running, auth: dict, failure: dict, recovered: dict) -> None:
    history = running.api.get("/api/v1/deployments", headers=auth).json()
    assert [(d["id"], d["state"]) for d in history[:2]] == [(recovered["id"], "succeeded"), (failure["id"], "failed")]
    assert history[1]["reason"] == failure["reason"]


def admin_accounts(running, auth: dict) -> set[str]:
    return {account["service"] for account in running.api.get("/api/v1/credentials", headers=auth).json()}


def test_trying_again_once_the_cause_is_gone_succeeds_with_one_vm_bucket_and_account_per_service(
    running, operators, before_the_change, failed
):
    operator, auth, failure = RETRIES, operators[RETRIES], failed[RETRIES]
    made = held_by(running, operator)

    again = recover(running, auth, failure, "retry")

    assert again["state"] == "succeeded", again
    assert again["urls"] == {"mastodon": f"https://mastodon.{operator}.example", "peertube": f"https://peertube.{operator}.example"}
    held = held_by(running, operator)
    assert {name: vm["vmid"] for name, vm in held["vms"].items()} == {
        f"{operator}-mastodon": before_the_change[operator]["vms"][f"{operator}-mastodon"]["vmid"],
        f"{operator}-peertube": made["vms"][f"{operator}-peertube"]["vmid"],
    }, "the machine the failed deployment made, no second one"
    assert {vm["status"] for vm in held["vms"].values()} == {"running"}
    assert {alias: bucket["id"] for alias, bucket in held["buckets"].items()} == {
        alias: bucket["id"] for alias, bucket in made["buckets"].items()}, "the bucket the failed deployment made, no second one"
    assert all(len(bucket["keys"]) == 1 for bucket in held["buckets"].values())
    assert held["keys"] == Counter({f"fedi-{operator}-mastodon": 1, f"fedi-{operator}-peertube": 1})
    assert held["accounts"] == held["relay_accounts"] == Counter({"mastodon": 1, "peertube": 1})
    assert held["nixos"] == before_the_change[operator]["nixos"] | {f"{operator}-peertube": 1}, "Mastodon's was not deployed again"
    if running.stack.dns:
        assert held["dns"] == made["dns"]
    assert admin_accounts(running, auth) == {"mastodon", "peertube"}
    assert running.api.post("/api/v1/credentials/peertube/reveal", headers=auth).status_code == 200
    assert_history_keeps_the_failure(running, auth, failure, again)


@pytest.fixture(scope="module")
def gone_back(running, operators, failed) -> dict:
    """The operator previews the last working configuration, then goes back to it; what the
    sandboxes held and told before, and the deployment that went back."""
    auth = operators[GOES_BACK]
    made, booted = held_by(running, GOES_BACK), boots(running)
    last_good = running.api.get("/api/v1/configuration", headers=auth).json()
    preview = running.api.post("/api/v1/plan-preview", json=last_good, headers=auth).json()
    back = recover(running, auth, failed[GOES_BACK], "rollback")
    return {"made": made, "booted": booted, "last_good": last_good, "preview": preview, "back": back}


def test_before_going_back_the_operator_is_told_that_peertubes_machine_and_media_are_kept_and_the_rest_goes(gone_back):
    assert (gone_back["last_good"]["mastodon"]["enable"], gone_back["last_good"]["peertube"]["enable"]) == (True, False)
    told = {service["service"]: {line["text"]: line["data"] for line in service["lines"]} for service in gone_back["preview"]["services"]}
    assert told.pop("peertube") == {
        "PeerTube's machine is shut down and kept with its disk and database: switching PeerTube on again starts it": "kept",
        "PeerTube's stored media and data are kept: access is closed, and switching PeerTube on again brings them back": "kept",
        "The admin account of PeerTube is removed": None,
        "The mail relay account of PeerTube is removed": None,
        "The DNS record of PeerTube is removed": None,
        "PeerTube is switched off": None,
    }
    assert not any(told.values()), "nothing else changes"


def test_going_back_succeeds_leaves_mastodon_untouched_and_removes_what_the_failed_change_made_but_its_data(
    running, operators, before_the_change, failed, gone_back
):
    operator, auth, back = GOES_BACK, operators[GOES_BACK], gone_back["back"]
    made, before = gone_back["made"], before_the_change[GOES_BACK]

    assert back["state"] == "succeeded", back
    assert {c["resource_id"]: (c["action"], c["data"]) for c in back["changes"] if c["action"] != "unchanged"} == {
        f"{operator}/peertube/{part}": ("delete", "keep" if part in ("vm", "bucket") else None) for part in PEERTUBE_MADE | {"nixos"}
    }
    reasons = {c["reason"] for c in back["changes"] if c["action"] == "delete"}
    assert reasons == {"left by an unfinished deployment: PeerTube is switched off"}
    peertube_vm = made["vms"][f"{operator}-peertube"]
    vm_step, bucket_step = (running.step_when(auth, back["id"], f"{operator}/peertube/{part}", "done", showing=shown)
                            for part, shown in (("vm", "its disk is kept"), ("bucket", "access revoked")))
    assert vm_step["detail"] == f"VM {peertube_vm['vmid']} shut down; its disk is kept"
    assert bucket_step["detail"] == "access revoked, data kept"

    held = held_by(running, operator)
    mastodon_vm = before["vms"][f"{operator}-mastodon"]
    kept_vm = held["vms"].pop(f"{operator}-peertube")
    assert (kept_vm["vmid"], kept_vm["status"], "fedi-kept" in kept_vm["tags"]) == (peertube_vm["vmid"], "stopped", True)
    assert held["vms"] == {f"{operator}-mastodon": mastodon_vm}
    assert boots(running)[mastodon_vm["vmid"]] == gone_back["booted"][mastodon_vm["vmid"]], "Mastodon's machine was not restarted"
    assert held["nixos"] == before["nixos"], "nor deployed again"
    peertube_bucket = made["buckets"][f"fedi-{operator}-peertube"]
    assert held["buckets"] == before["buckets"] | {f"fedi-{operator}-peertube": peertube_bucket | {"keys": {}}}
    assert held["keys"] == before["keys"] == Counter({f"fedi-{operator}-mastodon": 1}), "no key reaches PeerTube's bucket any more"
    assert held["accounts"] == held["relay_accounts"] == Counter({"mastodon": 1})
    if running.stack.dns:
        assert held["dns"] == before["dns"]
    assert running.api.get("/api/v1/configuration", headers=auth).json() == gone_back["last_good"]
    assert_history_keeps_the_failure(running, auth, failed[GOES_BACK], back)


def test_after_going_back_peertubes_admin_account_is_no_longer_offered(running, operators, gone_back):
    auth = operators[GOES_BACK]

    assert admin_accounts(running, auth) == {"mastodon"}
    assert running.api.post("/api/v1/credentials/peertube/reveal", headers=auth).status_code == 404


def test_after_going_back_only_mastodons_address_is_shown(gone_back):
    assert gone_back["back"]["urls"] == {"mastodon": f"https://mastodon.{GOES_BACK}.example"}
