"""Drift detection against the sandbox Proxmox, the Garage sandbox and a real pdns_server, with an
orchestrator database prepared the way the orchestrator records what it made, and once on what the
orchestrator itself recorded of a deployment."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from proxmoxer import ProxmoxAPI
from typer.testing import CliRunner

from fedi.cli import app
from fedi.drift import Sources, check
from runtime.db import Database
from sandbox.garage import GarageSandbox
from sandbox.pdns import PdnsServer
from sandbox.proxmox import ProxmoxSandbox
from services.orchestrator.adapters.dns import PowerDns
from services.orchestrator.adapters.store import ResourceState
from services.storage.adapters.garage import GarageAdmin
from tests.integration.test_orchestrator_support import TOKEN_ID, TOKEN_SECRET, plan, resources, world  # noqa: F401

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "drift-proxmox-secret"
ZONE = "acme.example."
GIB = 1024**3


class Backends:
    """The three backends holding one operator's deployment, and the orchestrator's record of it."""

    def __init__(self, tmp_path: Path, proxmox: ProxmoxSandbox, garage: GarageSandbox, pdns: PdnsServer) -> None:
        self.proxmox, self.garage, self.pdns = proxmox, garage, pdns
        self.home = tmp_path / "home"
        (self.home / "orchestrator").mkdir(parents=True)
        self.database_url = f"sqlite+aiosqlite:///{self.home / 'orchestrator' / 'orchestrator.db'}"
        self.api = ProxmoxAPI("127.0.0.1", port=proxmox.port, user="root@pam", token_name="fedi", token_value=SECRET,
                              verify_ssl=str(proxmox.cert_path))
        self.admin = GarageAdmin(garage.admin_url, garage.admin_token)
        self.dns = PowerDns(pdns.api_url, pdns.api_key)
        self.rows: list[ResourceState] = []

    def sources(self, garage_token: str | None = None) -> Sources:
        proxmox = {"host": "127.0.0.1", "port": self.proxmox.port, "token_id": "root@pam!fedi", "token_secret": SECRET,
                   "verify_ssl": str(self.proxmox.cert_path)}
        return Sources(self.database_url, proxmox, (self.garage.admin_url, garage_token or self.garage.admin_token),
                       (self.pdns.api_url, self.pdns.api_key, "localhost"))

    def env(self) -> dict[str, str]:
        return {
            "FEDI_ORCHESTRATOR_DATABASE_URL": self.database_url,
            "FEDI_ORCHESTRATOR_PROXMOX_PORT": str(self.proxmox.port),
            "FEDI_ORCHESTRATOR_PROXMOX_TOKEN_SECRET": SECRET,
            "FEDI_ORCHESTRATOR_PROXMOX_VERIFY_SSL": str(self.proxmox.cert_path),
            "FEDI_ORCHESTRATOR_DNS_API_URL": self.pdns.api_url,
            "FEDI_ORCHESTRATOR_DNS_API_KEY": self.pdns.api_key,
            "FEDI_STORAGE_GARAGE_ADMIN_URL": self.garage.admin_url,
            "FEDI_STORAGE_GARAGE_ADMIN_TOKEN": self.garage.admin_token,
        }

    # -- making things on the backends, as the orchestrator would ----------------------------------

    def vm(self, operator: str, service: str, cores: int = 2, memory_mib: int = 2048, record: bool = True) -> int:
        name, tags = f"{operator}-{service}", ["fedi", f"fedi-op-{operator}", f"fedi-svc-{service}"]
        vmid = int(self.api.cluster.nextid.get())
        self.wait(self.api.nodes("pve1").qemu(9000).clone.post(newid=vmid, name=name, full=1))
        self.wait(self.qemu(vmid).config.post(cores=cores, memory=memory_mib, tags=";".join(tags), agent="1"))
        self.wait(self.qemu(vmid).status.start.post())
        if record:
            spec = {"name": name, "cores": cores, "memory_mib": memory_mib, "disk_gib": 20, "tags": tags}
            self.record(f"{operator}/{service}/vm", operator, "vm", spec,
                        {"node": "pve1", "vmid": vmid, "address": "10.0.0.1", "name": name})
        return vmid

    def bucket(self, operator: str, service: str, record: bool = True) -> tuple[str, str]:
        """Its id and its key's id."""
        name = f"fedi-{operator}-{service}"
        bucket, key = self.admin.create_bucket(name), self.admin.create_key(name)
        self.admin.allow(bucket.id, key.id, read=True, write=True)
        self.admin.update_quotas(bucket.id, max_size=GIB, max_objects=None)
        if record:
            self.record(f"{operator}/{service}/bucket", operator, "bucket", {"name": name, "quota_bytes": GIB},
                        {"bucket": name, "endpoint": self.garage.s3_url, "region": "garage",
                         "access_key_id": key.id, "secret_ref": f"secret://storage/{name}"})
        return bucket.id, key.id

    def record_set(self, operator: str, resource: str, name: str, rtype: str, contents: list[str]) -> None:
        self.dns.ensure_zone(ZONE)
        self.dns.replace_rrset(ZONE, name, rtype, 300, contents)
        spec = {"zone": ZONE, "name": name, "type": rtype, "ttl": 300, "content": contents}
        self.record(f"{operator}/{resource}", operator, "dns", spec, {**spec})

    def record(self, resource_id: str, operator: str, kind: str, spec: dict, outputs: dict) -> None:
        self.rows.append(ResourceState(
            resource_id=resource_id, operator_id=operator, kind=kind, service=resource_id.split("/")[1],
            spec_hash="0" * 64, spec_json=json.dumps(spec), outputs_json=json.dumps(outputs), state="ready",
        ))

    def write_records(self) -> None:
        async def write() -> None:
            database = Database(self.database_url)
            try:
                await database.migrate(PROJECT_ROOT / "services" / "orchestrator" / "migrations")
                async with database.session() as session, session.begin():
                    session.add_all(self.rows)
            finally:
                await database.close()

        asyncio.run(write())

    # -- Proxmox helpers ------------------------------------------------------------------------------

    def qemu(self, vmid: int):
        return self.api.nodes("pve1").qemu(vmid)

    def wait(self, upid: str) -> None:
        finish(self.api, "pve1", upid)

    def delete_vm(self, vmid: int) -> None:
        delete_vm(self.api, "pve1", vmid)


def finish(api: ProxmoxAPI, node: str, upid: str) -> None:
    deadline = time.monotonic() + 10
    while (status := api.nodes(node).tasks(upid).status.get())["status"] == "running":
        assert time.monotonic() < deadline, f"{upid} still running"
        time.sleep(0.01)
    assert status["exitstatus"] == "OK", status


def delete_vm(api: ProxmoxAPI, node: str, vmid: int) -> None:
    """As an administrator would by hand: stop it, then destroy it."""
    finish(api, node, api.nodes(node).qemu(vmid).status.stop.post())
    finish(api, node, api.nodes(node).qemu(vmid).delete())


@pytest.fixture
def backends(tmp_path, pdns):
    with (
        ProxmoxSandbox(token_id="root@pam!fedi", token_secret=SECRET, cert_dir=tmp_path / "home" / "sandbox" / "tls") as proxmox,
        GarageSandbox() as garage,
    ):
        backends = Backends(tmp_path, proxmox, garage, pdns)
        backends.mastodon_vm = backends.vm("acme", "mastodon")
        backends.pixelfed_vm = backends.vm("acme", "pixelfed", cores=1, memory_mib=1024)
        backends.mastodon_bucket, backends.mastodon_key = backends.bucket("acme", "mastodon")
        backends.record_set("acme", "mastodon/dns-a", "mastodon.acme.example.", "A", ["10.0.0.1"])
        backends.record_set("acme", "mastodon/dns-txt", "acme.example.", "TXT", ["v=spf1 mx -all"])
        backends.vm("globex", "peertube")
        backends.write_records()
        yield backends
        backends.admin.close()
        backends.dns.close()


def said(report) -> list[str]:
    return [f"{d.kind} {d.subject}: {d.message}" for d in report.differences]


def test_nothing_has_drifted_while_the_backends_hold_what_was_recorded(backends):
    report = check(backends.sources())

    assert said(report) == [] and report.unchecked == {}
    assert (report.checked, report.exit_code) == (6, 0)


def test_a_vm_deleted_by_hand_and_a_record_changed_by_hand_are_reported(backends):
    backends.delete_vm(backends.pixelfed_vm)
    backends.dns.replace_rrset(ZONE, "mastodon.acme.example.", "A", 300, ["203.0.113.66"])

    report = check(backends.sources(), operator="acme")

    assert said(report) == [
        "changed acme/mastodon/dns-a: A mastodon.acme.example. holds 203.0.113.66; recorded 10.0.0.1",
        f"missing acme/pixelfed/vm: VM {backends.pixelfed_vm} (acme-pixelfed) no longer exists on Proxmox (deleted by hand?)",
    ]
    assert report.exit_code == 3


def test_a_resized_vm_a_deleted_record_and_a_deleted_key_are_reported(backends):
    backends.wait(backends.qemu(backends.mastodon_vm).config.post(cores=4, memory=4096))
    backends.dns.delete_rrset(ZONE, "acme.example.", "TXT")
    backends.admin.delete_key(backends.mastodon_key)

    assert said(check(backends.sources())) == [
        "missing acme/mastodon/bucket: access key "
        f"{backends.mastodon_key} of bucket fedi-acme-mastodon is missing from storage",
        "missing acme/mastodon/dns-txt: TXT acme.example. is missing from zone acme.example.",
        f"changed acme/mastodon/vm: VM {backends.mastodon_vm} (acme-mastodon) has 4 cores; recorded 2",
        f"changed acme/mastodon/vm: VM {backends.mastodon_vm} (acme-mastodon) has 4096 MiB of memory; recorded 2048 MiB",
    ]


def test_what_the_backends_hold_under_our_names_but_nothing_recorded_is_reported_as_orphans(backends):
    stray_vm = backends.vm("acme", "peertube", record=False)
    backends.bucket("acme", "peertube", record=False)
    backends.dns.replace_rrset(ZONE, "old.acme.example.", "CNAME", 300, ["acme.example."])

    orphans = [(d.subject, d.operator_id) for d in check(backends.sources()).differences if d.kind == "orphan"]

    assert orphans == [
        ("CNAME old.acme.example.", "acme"),
        (f"VM {stray_vm}", "acme"),
        ("bucket fedi-acme-peertube", "acme"),
        ("key fedi-acme-peertube", "acme"),
    ]


def test_a_backend_that_cannot_be_read_is_named_and_the_others_are_still_compared(backends):
    backends.delete_vm(backends.mastodon_vm)

    report = check(backends.sources(garage_token="wrong-token"))

    assert report.unchecked == {"storage": "storage (Garage) could not be read: 403 AccessDenied: Forbidden: Invalid bearer token"}
    assert [d.subject for d in report.differences] == ["acme/mastodon/vm"]
    assert report.exit_code == 3


def fedi_drift(backends: Backends, *args: str, env: dict | None = None):
    home = str(backends.home.parent / "no-stack")
    return CliRunner().invoke(app, ["drift", "--home", home, *args], env=env or backends.env())


def test_fedi_drift_exits_0_and_says_so_when_nothing_differs(backends):
    clean = fedi_drift(backends)
    assert clean.exit_code == 0, clean.output
    assert "no drift: the 6 recorded resources match what the backends hold" in clean.output

    as_json = fedi_drift(backends, "--operator", "globex", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == {
        "operator": "globex", "checked": 1, "exit_code": 0, "differences": [], "unchecked": {}, "not_compared": {},
    }


BY_HAND = {
    "vm-deleted": (lambda b: b.delete_vm(b.pixelfed_vm),
                   "missing  acme/pixelfed/vm  VM {b.pixelfed_vm} (acme-pixelfed) no longer exists on Proxmox (deleted by hand?)"),
    "vm-resized": (lambda b: b.wait(b.qemu(b.mastodon_vm).config.post(cores=4)),
                   "changed  acme/mastodon/vm  VM {b.mastodon_vm} (acme-mastodon) has 4 cores; recorded 2"),
    "record-changed": (lambda b: b.dns.replace_rrset(ZONE, "mastodon.acme.example.", "A", 300, ["203.0.113.66"]),
                       "changed  acme/mastodon/dns-a  A mastodon.acme.example. holds 203.0.113.66; recorded 10.0.0.1"),
    "bucket-deleted": (lambda b: b.admin.delete_bucket(b.mastodon_bucket),
                       "missing  acme/mastodon/bucket  bucket fedi-acme-mastodon is missing from storage"),
}


@pytest.mark.parametrize("change", list(BY_HAND))
def test_fedi_drift_says_in_plain_words_what_was_changed_by_hand_and_exits_3(backends, change):
    by_hand, expected = BY_HAND[change]
    by_hand(backends)

    result = fedi_drift(backends, "--operator", "acme")

    assert result.exit_code == 3, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert lines == ["acme:", " ".join(expected.format(b=backends).split()), "1 difference of acme (5 recorded resources compared)"]


def test_without_powerdns_configured_records_are_named_as_not_compared_and_the_rest_still_is(backends):
    backends.dns.replace_rrset(ZONE, "mastodon.acme.example.", "A", 300, ["203.0.113.66"])
    no_dns = backends.env() | {"FEDI_ORCHESTRATOR_DNS_API_URL": None, "FEDI_ORCHESTRATOR_DNS_API_KEY": None}

    clean = fedi_drift(backends, env=no_dns)
    assert clean.exit_code == 0, clean.output
    assert clean.output.splitlines() == [
        "not compared: DNS records: no PowerDNS is configured (FEDI_ORCHESTRATOR_DNS_API_URL), so the orchestrator "
        "only reported them",
        "no drift found in what was compared (6 recorded resources)",
    ]

    backends.delete_vm(backends.pixelfed_vm)
    assert fedi_drift(backends, env=no_dns).exit_code == 3


def test_fedi_drift_finds_the_backends_of_the_fedi_up_stack_in_its_home(backends):
    sandbox = backends.home / "sandbox"
    (backends.home / "stack.json").write_text(json.dumps({
        "proxmox_sandbox": backends.proxmox.url, "garage_admin_sandbox": backends.garage.admin_url, "pdns_api": backends.pdns.api_url,
    }))
    for name, secret in (("proxmox-token", SECRET), ("garage-token", backends.garage.admin_token),
                         ("pdns-key", backends.pdns.api_key)):
        (sandbox / name).write_text(secret + "\n")
    backends.dns.replace_rrset(ZONE, "acme.example.", "TXT", 300, ["changed by hand"])

    result = CliRunner().invoke(app, ["drift", "--home", str(backends.home)])

    assert result.exit_code == 3, result.output
    assert 'TXT acme.example. holds "changed by hand"; recorded "v=spf1 mx -all"' in result.output


def test_what_the_orchestrator_itself_recorded_is_compared_and_hand_made_changes_to_it_are_found(world):
    world.start()
    assert world.deploy(plan("acme", 1, resources("acme"))) == "succeeded", world.reason("acme-rev1")
    (vm,) = world.vms("acme")
    api = ProxmoxAPI("127.0.0.1", port=world.proxmox.port, user=TOKEN_ID.split("!")[0], token_name=TOKEN_ID.split("!")[1],
                     token_value=TOKEN_SECRET, verify_ssl=str(world.proxmox.cert_path))
    database = world.home / "orchestrator" / "orchestrator.db"
    proxmox = {"host": "127.0.0.1", "port": world.proxmox.port, "token_id": TOKEN_ID, "token_secret": TOKEN_SECRET,
               "verify_ssl": str(world.proxmox.cert_path)}
    where = Sources(f"sqlite+aiosqlite:///{database}", proxmox, None, (world.pdns.api_url, world.pdns.api_key, "localhost"))

    clean = check(where)
    assert (said(clean), clean.unchecked, clean.exit_code) == ([], {}, 0)
    assert list(clean.not_compared) == ["storage"], "the buckets were made by a stand-in, not on Garage"

    delete_vm(api, vm["node"], vm["vmid"])
    with PowerDns(world.pdns.api_url, world.pdns.api_key) as dns:
        dns.replace_rrset("acme.example.", "mastodon.acme.example.", "A", 300, ["203.0.113.66"])

    assert said(check(where)) == [
        f"changed acme/mastodon/dns/host: A mastodon.acme.example. holds 203.0.113.66; recorded {vm['ip']}",
        f"missing acme/mastodon/vm: VM {vm['vmid']} (acme-mastodon) no longer exists on Proxmox (deleted by hand?)",
    ]
