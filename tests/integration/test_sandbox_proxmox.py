"""The Proxmox stand-in, driven through the real proxmoxer client over HTTPS."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

from sandbox.proxmox import ProxmoxSandbox

pytestmark = pytest.mark.integration

SECRET = "0f5e3c1a-sandbox-secret"
UPID = re.compile(r"UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:(?P<type>\w+):(?P<id>\d+):root@pam!fedi:")


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tls")


@pytest.fixture
def sandbox(cert_dir):
    with ProxmoxSandbox(token_id="root@pam!fedi", token_secret=SECRET, templates={9000: "nixos-24.11"},
                        cert_dir=cert_dir) as sb:
        yield sb


def client(sb: ProxmoxSandbox, secret: str = SECRET) -> ProxmoxAPI:
    return ProxmoxAPI("127.0.0.1", port=sb.port, user="root@pam", token_name="fedi", token_value=secret,
                      verify_ssl=str(sb.cert_path))


@pytest.fixture
def api(sandbox):
    return client(sandbox)


def wait(api: ProxmoxAPI, upid: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while (status := api.nodes("pve1").tasks(upid).status.get())["status"] == "running":
        assert time.monotonic() < deadline, f"{upid} still running"
        time.sleep(0.01)
    return status


def refused(call) -> ResourceException:
    with pytest.raises(ResourceException) as caught:
        call()
    return caught.value


def cloned(api: ProxmoxAPI, newid: int, **params) -> dict:
    assert wait(api, api.nodes("pve1").qemu(9000).clone.post(newid=newid, **params))["exitstatus"] == "OK"
    return api.nodes("pve1").qemu(newid)


def public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " ops@fedi"


def test_a_clone_is_a_task_that_keeps_the_new_vm_locked_until_it_finishes(sandbox, api):
    sandbox.set_latency("qmclone", 0.2)
    newid = api.cluster.nextid.get()
    assert newid == "100"

    upid = api.nodes("pve1").qemu(9000).clone.post(newid=newid, name="web-1", full=1)
    assert UPID.fullmatch(upid).group("type", "id") == ("qmclone", "9000")
    assert api.nodes("pve1").qemu(newid).config.get()["lock"] == "clone"
    locked = refused(lambda: api.nodes("pve1").qemu(newid).config.post(cores=4))
    assert (locked.status_code, locked.content) == (500, "VM 100 is locked (clone)")
    running = api.nodes("pve1").tasks(upid).status.get()
    assert running["status"] == "running" and "exitstatus" not in running

    finished = wait(api, upid)
    assert (finished["exitstatus"], finished["type"], finished["id"]) == ("OK", "qmclone", "9000")
    assert wait(api, api.nodes("pve1").qemu(100).config.post(cores=4, memory="4096", tags="Fedi;web;fedi"))["exitstatus"] == "OK"

    config = api.nodes("pve1").qemu(100).config.get()
    assert "lock" not in config and config["tags"] == "fedi;web" and config["name"] == "web-1"
    assert config["scsi0"] == "local-lvm:vm-100-disk-0,size=8G"
    [vm] = [vm for vm in sandbox.inventory() if vm["vmid"] == 100]
    assert vm | {"ip": None} == vm | {"node": "pve1", "name": "web-1", "status": "stopped", "cores": 4, "memory": 4096,
                                      "tags": ["fedi", "web"], "template": False, "lock": None,
                                      "disks": {"scsi0": "8G"}, "ip": None}
    listed = {r["vmid"]: r for r in api.cluster.resources.get(type="vm")}
    assert listed[100]["name"] == "web-1" and listed[9000]["template"] == 1
    assert [v["vmid"] for v in api.nodes("pve1").qemu.get()] == [100, 9000]
    unnamed = cloned(api, 101)
    assert unnamed.config.get()["name"] == "Copy-of-VM-nixos-24.11"


def test_nextid_reserves_nothing_so_two_clones_can_race_for_the_same_id(sandbox, api):
    sandbox.set_latency("worker_start", 0.1)
    ids = []
    threads = [threading.Thread(target=lambda: ids.append(client(sandbox).cluster.nextid.get())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ids == ["100", "100"]

    upids = [api.nodes("pve1").qemu(9000).clone.post(newid=100, name=f"racer-{i}") for i in range(2)]
    outcomes = sorted(wait(api, upid)["exitstatus"] for upid in upids)
    assert outcomes == ["OK", "unable to create VM 100: config file already exists"]
    assert [vm["name"] for vm in sandbox.inventory() if vm["vmid"] == 100] == ["racer-0"]

    late = refused(lambda: api.nodes("pve1").qemu(9000).clone.post(newid=100))
    assert (late.status_code, late.content) == (500, "unable to create VM 100: config file already exists")
    taken = refused(lambda: api.cluster.nextid.get(vmid=100))
    assert (taken.status_code, taken.errors) == (400, {"vmid": "VM 100 already exists"})
    assert api.cluster.nextid.get(vmid=555) == "555" and api.cluster.nextid.get() == "101"


def test_bad_parameters_are_refused_with_one_message_per_parameter(api):
    bad = refused(lambda: api.nodes("pve1").qemu(9000).clone.post(newid="abc", name="not a name", colour="red"))
    assert (bad.status_code, bad.content) == (400, "Parameter verification failed.")
    assert bad.errors == {
        "newid": "type check ('integer') failed - got 'abc'",
        "name": "value does not look like a valid DNS name",
        "colour": "property is not defined in schema and the schema does not allow additional properties",
    }
    missing = refused(lambda: api.nodes("pve1").qemu(9000).clone.post(name="web"))
    assert missing.errors == {"newid": "property is missing and it is not optional"}

    config = api.nodes("pve1").qemu(9000).config
    bad = refused(lambda: config.post(cores=0, agent="enabled=2", net1="virtio,bridge=vmbr0,speed=10", scsi99="x"))
    assert bad.errors["cores"] == "value must have a minimum value of 1"
    assert bad.errors["agent"].startswith("invalid format - format error\nagent.enabled: type check ('boolean')")
    assert bad.errors["net1"] == "invalid format - invalid key in comma-separated list property: speed"
    assert "not defined in schema" in bad.errors["scsi99"]
    small = refused(lambda: api.nodes("pve1").qemu(99).status.current.get())
    assert small.errors == {"vmid": "value must have a minimum value of 100"}


def test_a_wrong_or_missing_token_is_refused_with_401(sandbox):
    wrong = refused(lambda: client(sandbox, secret="guess").version.get())
    assert (wrong.status_code, wrong.content) == (401, "authentication failure")
    anonymous = requests.get(f"{sandbox.url}/api2/json/version", verify=str(sandbox.cert_path))
    assert (anonymous.status_code, anonymous.reason, anonymous.content) == (401, "No ticket", b"")
    assert client(sandbox).version.get()["release"].startswith("8.")


def test_a_started_vm_reports_its_address_through_the_guest_agent_once_booted(sandbox, api):
    sandbox.set_latency("guest_agent_boot", 0.2)
    vm = cloned(api, 100)
    assert refused(lambda: vm.agent("network-get-interfaces").get()).content == "VM 100 is not running"

    assert UPID.fullmatch(upid := vm.status.start.post()).group("type") == "qmstart"
    assert wait(api, upid)["exitstatus"] == "OK"
    assert vm.status.current.get()["status"] == "running"
    assert refused(lambda: vm.agent("network-get-interfaces").get()).content == "QEMU guest agent is not running"

    time.sleep(0.2)
    interfaces = {i["name"]: i for i in vm.agent("network-get-interfaces").get()["result"]}
    assert interfaces["lo"]["ip-addresses"][0]["ip-address"] == "127.0.0.1"
    [ipv4] = [a for a in interfaces["eth0"]["ip-addresses"] if a["ip-address-type"] == "ipv4"]
    [listed] = [v for v in sandbox.inventory() if v["vmid"] == 100]
    assert ipv4["ip-address"] == listed["ip"] and ipv4["ip-address"].startswith("10.10.")

    assert wait(api, vm.config.post(delete="agent"))["exitstatus"] == "OK"
    assert refused(lambda: vm.agent("network-get-interfaces").get()).content == "No QEMU guest agent configured"


def test_a_running_vm_cannot_be_destroyed_but_a_stopped_one_can(api):
    vm = cloned(api, 100)
    wait(api, vm.status.start.post())
    running = refused(lambda: vm.delete(purge=1))
    assert (running.status_code, running.content) == (500, "VM 100 is running - destroy failed")

    assert wait(api, vm.status.stop.post())["exitstatus"] == "OK"
    destroyed = wait(api, vm.delete(purge=1, **{"destroy-unreferenced-disks": 1}))
    assert (destroyed["type"], destroyed["exitstatus"]) == ("qmdestroy", "OK")
    gone = refused(lambda: vm.status.current.get())
    assert (gone.status_code, gone.content) == (500, "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist")


def test_disks_grow_but_a_shrink_fails_inside_its_task(sandbox, api):
    vm = cloned(api, 100)
    assert wait(api, vm.resize.put(disk="scsi0", size="+2G"))["exitstatus"] == "OK"
    assert "size=10G" in vm.config.get()["scsi0"]

    upid = vm.resize.put(disk="scsi0", size="4G")
    assert UPID.fullmatch(upid).group("type") == "resize"
    assert wait(api, upid)["exitstatus"] == "shrinking disks is not supported"
    assert api.nodes("pve1").tasks(upid).log.get()[-1]["t"] == "TASK ERROR: shrinking disks is not supported"
    assert [v["disks"] for v in sandbox.inventory() if v["vmid"] == 100] == [{"scsi0": "10G"}]


def test_ssh_keys_must_be_url_encoded_public_keys(sandbox, api):
    vm, key = cloned(api, 100), public_key()
    assert wait(api, vm.config.post(sshkeys=quote(key, safe=""), ciuser="ops", ipconfig0="ip=dhcp"))["exitstatus"] == "OK"
    assert vm.config.get()["sshkeys"] == quote(key, safe="")
    [listed] = [v for v in sandbox.inventory() if v["vmid"] == 100]
    assert (listed["sshkeys"], listed["ciuser"], listed["ipconfig0"]) == (key, "ops", "ip=dhcp")

    forged = refused(lambda: vm.config.post(sshkeys=quote("ssh-ed25519 AAAAC3NotAKey ops@fedi", safe="")))
    assert (forged.status_code, forged.content) == (500, "SSH public key validation error")
    raw = refused(lambda: vm.config.post(sshkeys=key))
    assert raw.status_code == 400 and raw.errors["sshkeys"].startswith("invalid urlencoded string")


def test_an_injected_lock_timeout_fails_the_clone_task_and_creates_nothing(sandbox, api):
    sandbox.inject_fault("qmclone", "lock_timeout", count=1)
    failed = wait(api, api.nodes("pve1").qemu(9000).clone.post(newid=100))
    assert failed["exitstatus"] == "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
    assert [vm["vmid"] for vm in sandbox.inventory()] == [9000]
    assert cloned(api, 100).config.get()["name"] == "Copy-of-VM-nixos-24.11"  # only the next one failed


def test_injected_http_faults_fail_the_call_at_once(sandbox, api):
    sandbox.inject_fault("nextid", "http_596", count=1)
    timeout = refused(lambda: api.cluster.nextid.get())
    assert (timeout.status_code, timeout.content) == (596, "Connection timed out")
    assert api.cluster.nextid.get() == "100"

    sandbox.inject_fault("qmclone", "http_500", message="got timeout waiting on cluster filesystem")
    error = refused(lambda: api.nodes("pve1").qemu(9000).clone.post(newid=100))
    assert (error.status_code, error.content) == (500, "got timeout waiting on cluster filesystem")
    assert [vm["vmid"] for vm in sandbox.inventory()] == [9000]

    sandbox.inject_fault("agent", "http_500", rate=1.0)
    sandbox.inject_fault("nextid", "http_596", rate=0.0)
    assert api.cluster.nextid.get() == "100"
    for _ in range(3):
        assert refused(lambda: api.nodes("pve1").qemu(9000).agent("network-get-interfaces").get()).status_code == 500


def test_injected_warnings_and_slowness_still_end_in_success(sandbox, api):
    vm = cloned(api, 100)
    sandbox.inject_fault("qmstart", "warnings")
    assert wait(api, vm.status.start.post())["exitstatus"] == "WARNINGS: 1"
    assert vm.status.current.get()["status"] == "running"

    sandbox.inject_fault("qmshutdown", "slow", seconds=0.2)
    upid = vm.status.shutdown.post()
    assert api.nodes("pve1").tasks(upid).status.get()["status"] == "running"
    assert wait(api, upid)["exitstatus"] == "OK" and vm.status.current.get()["status"] == "stopped"


def test_unknown_paths_nodes_and_tasks_are_answered_like_proxmox(api):
    unknown = refused(lambda: api.nodes("pve1").qemu(9000).snapshots.get())
    assert (unknown.status_code, unknown.content) == (501, "Method 'GET /nodes/pve1/qemu/9000/snapshots' not implemented")
    no_task = refused(lambda: api.nodes("pve1").tasks("UPID:pve1:00001234:00001234:6500AAAA:qmclone:9000:root@pam!fedi:").status.get())
    assert (no_task.status_code, no_task.errors) == (400, {"upid": "no such task"})
    assert refused(lambda: api.nodes("pve1").tasks("nonsense").status.get()).errors == {"upid": "unable to parse worker upid"}
    assert refused(lambda: api.nodes("pve9").qemu.get()).content.startswith("hostname lookup 'pve9' failed")
    assert {s["storage"] for s in api.nodes("pve1").storage.get()} == {"local", "local-lvm"}
    api.pools.post(poolid="fedi", comment="hosted")
    cloned(api, 100, pool="fedi")
    assert api.pools.get(poolid="fedi")[0]["members"][0]["vmid"] == 100


def test_the_state_file_survives_a_restart(cert_dir, tmp_path):
    state = tmp_path / "proxmox.json"
    with ProxmoxSandbox(token_secret=SECRET, cert_dir=cert_dir, state_file=state) as first:
        api = client(first)
        cloned(api, 100, name="kept")
        wait(api, api.nodes("pve1").qemu(100).config.post(tags="db"))
        last_pid = int(api.nodes("pve1").qemu(100).status.start.post().split(":")[2], 16)
    with ProxmoxSandbox(token_secret=SECRET, cert_dir=cert_dir, state_file=state) as second:
        api = client(second)
        [kept] = [vm for vm in second.inventory() if vm["vmid"] == 100]
        assert (kept["name"], kept["tags"], kept["status"]) == ("kept", ["db"], "running")
        assert int(api.nodes("pve1").qemu(100).status.stop.post().split(":")[2], 16) > last_pid
        assert api.cluster.nextid.get() == "101"


def test_the_control_endpoints_work_over_http(sandbox, api):
    base = f"{sandbox.url}/sandbox"
    assert [vm["vmid"] for vm in requests.get(f"{base}/inventory", verify=str(sandbox.cert_path)).json()] == [9000]
    assert requests.post(f"{base}/latency", json={"qmclone": 0.2}, verify=str(sandbox.cert_path)).ok
    assert requests.post(f"{base}/faults", json={"op": "nextid", "kind": "http_500", "count": 1}, verify=str(sandbox.cert_path)).ok
    assert refused(lambda: api.cluster.nextid.get()).status_code == 500
    upid = api.nodes("pve1").qemu(9000).clone.post(newid=100)
    assert api.nodes("pve1").tasks(upid).status.get()["status"] == "running"
    assert requests.post(f"{base}/faults", json={"op": "x", "kind": "meteor"}, verify=str(sandbox.cert_path)).status_code == 400


def test_it_runs_as_a_process_until_sigterm(cert_dir, tmp_path):
    command = [sys.executable, "-m", "sandbox.proxmox", "--port", "0", "--state-file", str(tmp_path / "s.json"),
               "--cert-dir", str(cert_dir), "--token-id", "root@pam!fedi", "--token-secret", SECRET]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            line = process.stdout.readline()
            assert (m := re.fullmatch(r"proxmox sandbox listening on https://127\.0\.0\.1:(\d+)\n", line)), line
            api = ProxmoxAPI("127.0.0.1", port=int(m[1]), user="root@pam", token_name="fedi", token_value=SECRET,
                             verify_ssl=str(cert_dir / "cert.pem"))
            assert api.nodes.get()[0]["node"] == "pve1"
        finally:
            process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
    assert (tmp_path / "s.json").exists()
