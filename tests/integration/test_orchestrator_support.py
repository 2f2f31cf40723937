"""What the orchestrator's integration tests run against: a private nats-server, the Proxmox sandbox,
a real pdns_server, the sandbox NixOS target, the orchestrator as its own process (so it can be
killed), and `StandInForStorageAndIdentity`, a small responder on the bus that plays the storage
and identity services' side of the contracts. Plans are published as the configurator would."""

import asyncio
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts import decode, encode
from contracts.commands import (
    AccountDeletionRequested,
    AccountRequested,
    BucketDeletionRequested,
    BucketRequested,
    DirectoryRemovalRequested,
    SshKeyDeletionRequested,
    SshKeyRequested,
    StorageRemovalRequested,
)
from contracts.events import (
    AccountCreated,
    AccountDeleted,
    BucketCreated,
    BucketDeleted,
    DirectoryRemoved,
    NotRemoved,
    PlanCreated,
    RemovedBucket,
    SshKeyCreated,
    SshKeyDeleted,
    StorageRemoved,
)
from contracts.requests import SecretReply, SecretRequest
from contracts.resources import DATA_KINDS, Change
from contracts.subjects import STREAM, dead_letter
from runtime.dead_letters import REASON as DEAD_LETTER_REASON
from runtime.nats_server import NatsServer
from runtime.stream import ensure_stream
from sandbox import nixos_target
from sandbox.pdns import PdnsServer
from sandbox.pdns import missing as pdns_missing
from sandbox.proxmox import ProxmoxSandbox
from services.configurator.domain.nixos import directory_settings
from services.configurator.domain.plans import SWEEPS
from services.configurator.domain.policy import parse_policy
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
TOKEN_ID, TOKEN_SECRET = "root@pam!fedi", "sandbox-secret"
FINAL = ("deployment.succeeded", "deployment.failed", "deployment.cancelled")


def require_pdns() -> None:
    require(pdns_missing())


# -- plans, as the configurator makes them -------------------------------------------------------------


def resources(operator: str, services=("mastodon",), cores=2, memory=2048, disk=20, domain=None, dns=True, directory=False) -> list[dict]:
    """`directory`: the services sign in against the provider's directory, binding as the operator's reader."""
    domain = domain or f"{operator}.example"
    key, reader = f"{operator}/_/sshkey", f"{operator}/_/account/reader"
    out = [{"id": key, "kind": "sshkey", "service": "_", "depends_on": [], "spec": {"name": f"{operator}-deploy"}}]
    if directory:
        out.append({"id": reader, "kind": "account", "service": "_", "depends_on": [],
                    "spec": {"username": "reader", "email": "", "display_name": f"Directory reader of {operator}'s services"}})
    for service in services:
        rid = lambda kind, role=None: f"{operator}/{service}/{kind}" + (f"/{role}" if role else "")  # noqa: E731
        name = f"{operator}-{service}"
        out += [
            {"id": rid("vm"), "kind": "vm", "service": service, "depends_on": [key], "spec": {
                "name": name, "cores": cores, "memory_mib": memory, "disk_gib": disk,
                "tags": ["fedi", f"fedi-op-{operator}", f"fedi-svc-{service}"]}},
            {"id": rid("bucket"), "kind": "bucket", "service": service, "depends_on": [],
             "spec": {"name": f"fedi-{operator}-{service}", "quota_bytes": 10 * 1024**3}},
            {"id": rid("account"), "kind": "account", "service": service, "depends_on": [],
             "spec": {"username": "alice", "email": f"alice@{domain}", "display_name": "Alice"}},
            {"id": rid("mail"), "kind": "mail", "service": service, "depends_on": [],
             "spec": {"username": name, "from_address": f"{service}@{domain}"}},
        ]
        if dns:
            out.append({"id": rid("dns", "host"), "kind": "dns", "service": service, "depends_on": [rid("vm")], "spec": {
                "zone": f"{domain}.", "name": f"{service}.{domain}.", "type": "A", "ttl": 300, "address_of": rid("vm")}})
        needs = [r["id"] for r in out if r["service"] == service and r["kind"] != "dns"] + [key] + ([reader] if directory else [])
        out.append({"id": rid("nixos"), "kind": "nixos", "service": service, "depends_on": needs, "spec": {
            "vm": rid("vm"), "config": vm_json(operator, domain, service, cores, memory, disk, directory)}})
    return out


def vm_json(operator, domain, service, cores, memory, disk, directory=False) -> dict:
    section = {"enable": True, "hostName": f"{service}.{domain}", "options": {},
               "smtp": {"host": "relay.provider.example", "port": 587, "security": "starttls", "fromAddress": f"{service}@{domain}"}}
    if directory:
        section["ldap"] = directory_settings(operator, service, parse_policy("directory: {enabled: true}").directory)
    return {"fediversity": {
        "operator": operator, "domain": domain,
        "vm": {"name": f"{operator}-{service}", "cores": cores, "memoryMiB": memory, "diskGiB": disk},
        "initialUser": {"username": "alice", "displayName": "Alice", "email": f"alice@{domain}"},
        **{name: {"enable": False} for name in ("mastodon", "peertube", "pixelfed")},
        service: section,
    }}


def changes(before: list[dict], after: list[dict], data: str | None = "keep", replace=()) -> list[Change]:
    old = {r["id"]: r for r in before}
    new = {r["id"]: r for r in after}
    out = []
    for rid, resource in new.items():
        if rid in replace:
            out.append(Change(resource_id=rid, action="replace", kind=resource["kind"], service=resource["service"], spec=old[rid]["spec"]))
        elif rid not in old:
            out.append(Change(resource_id=rid, action="create", kind=resource["kind"], service=resource["service"]))
        else:
            action = "unchanged" if old[rid]["spec"] == resource["spec"] else "update"
            out.append(Change(resource_id=rid, action=action, kind=resource["kind"], service=resource["service"]))
    for rid in old.keys() - new.keys():
        r = old[rid]
        out.append(Change(resource_id=rid, action="delete", kind=r["kind"], service=r["service"], spec=r["spec"],
                          data=data if r["kind"] in DATA_KINDS else None))
    return sorted(out, key=lambda c: c.resource_id)


def plan(operator: str, revision: int, now: list[dict], before: list[dict] | None = None, deployment_id: str | None = None,
         data: str | None = "keep", replace=()) -> PlanCreated:
    deployment_id = deployment_id or f"{operator}-rev{revision}"
    return PlanCreated(
        correlation_id=deployment_id, operator_id=operator, producer="configurator", deployment_id=deployment_id,
        revision=revision, domain=f"{operator}.example", resources=now, changes=changes(before or [], now, data, replace),
    )


def removal(operator: str, revision: int, before: list[dict]) -> PlanCreated:
    """The removal of the operator's account: everything deleted with its data, then its directory,
    whatever else storage holds for it and every other machine of it on Proxmox."""
    everything = plan(operator, revision, [], before=before, data="delete")
    sweeps = tuple(Change(resource_id=f"{operator}/_/{kind}", action="delete", kind=kind, service="_") for kind in SWEEPS)
    return everything.model_copy(update={"changes": (*everything.changes, *sweeps), "origin": "removal"})


# -- the stand-in for storage and identity ---------------------------------------------------------------


@dataclass
class StandInForStorageAndIdentity:
    """Plays storage's and identity's side of the contracts: answers each command with its event
    and hands out the secrets it made. Its inventory is what those services would hold."""

    buckets: dict[str, dict] = field(default_factory=dict)
    """By name; storage's own names, fedi-<operator>-<service>, tell whose each is. One with a
    "refused" reason is not removed with the rest of the operator's storage."""
    accounts: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """(service, username, purpose) -> secret ref: admin and relay accounts, and the operator's
    directory reader ("_", "reader", "reader")."""
    sshkeys: dict[str, tuple[str, str]] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)
    """Operators with a subtree in the directory (made with their first account)."""
    secrets: dict[str, str] = field(default_factory=dict)
    latency: float = 0.0
    """Seconds each answer takes (answers to different commands overlap)."""
    ignores: set[str] = field(default_factory=set)
    """Command types it never answers, as a service that is down."""
    gives_up: dict[str, str] = field(default_factory=dict)
    """Command types it parks as dead letters instead of answering, with the reason, as a service does
    once it has used up its deliveries."""

    def answer(self, command):
        made = dict(correlation_id=command.correlation_id, causation_id=str(command.event_id), operator_id=command.operator_id,
                    deployment_id=command.deployment_id)
        if isinstance(command, DirectoryRemovalRequested):  # the operator's whole subtree: no resource id
            existed = command.operator_id in self.directories
            self.directories.discard(command.operator_id)
            return DirectoryRemoved(**made, producer="identity", entries_removed=int(existed), accounts_removed=0, ssh_keys_removed=0,
                                    secrets_removed=0, external_link_removed=False)
        made["resource_id"] = command.resource_id
        if isinstance(command, StorageRemovalRequested):  # every bucket of the operator's a plan may not know
            theirs = sorted(name for name in self.buckets if name.startswith(f"fedi-{command.operator_id}-"))
            refused = {name: self.buckets[name]["refused"] for name in theirs if "refused" in self.buckets[name]}
            for name in set(theirs) - set(refused):
                del self.buckets[name]
            return StorageRemoved(**made, producer="storage",
                                  buckets=tuple(RemovedBucket(name=name, objects=0, bytes=0) for name in theirs if name not in refused),
                                  not_removed=tuple(NotRemoved(name=name, reason=reason) for name, reason in refused.items()))
        if isinstance(command, BucketRequested):
            self.buckets.setdefault(command.bucket, {"kept": False})["kept"] = False
            ref = self._secret(f"storage/{command.bucket}", f"s3-secret-of-{command.bucket}")
            return BucketCreated(**made, producer="storage", bucket=command.bucket, endpoint="http://s3.example", region="garage",
                                 access_key_id=f"GK{abs(hash(command.bucket)) % 10**12:012d}", secret_ref=ref)
        if isinstance(command, BucketDeletionRequested):
            if command.keep_data:
                self.buckets.setdefault(command.bucket, {})["kept"] = True
            else:
                self.buckets.pop(command.bucket, None)
            return BucketDeleted(**made, producer="storage", bucket=command.bucket, data_kept=command.keep_data)
        if isinstance(command, AccountRequested):
            self.directories.add(command.operator_id)
            ref = self._secret(f"identity/{command.purpose}/{command.username}", f"password-of-{command.username}")
            self.accounts[(command.service, command.username, command.purpose)] = ref
            return AccountCreated(**made, producer="identity", service=command.service, username=command.username, secret_ref=ref)
        if isinstance(command, AccountDeletionRequested):
            self.accounts.pop((command.service, command.username, command.purpose), None)
            return AccountDeleted(**made, producer="identity", service=command.service, username=command.username)
        if isinstance(command, SshKeyRequested):
            if command.name not in self.sshkeys:
                key = Ed25519PrivateKey.generate()
                private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                            serialization.NoEncryption()).decode()
                public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
                self.sshkeys[command.name] = (public + f" {command.name}", self._secret(f"identity/sshkey/{command.name}", private))
            public, ref = self.sshkeys[command.name]
            return SshKeyCreated(**made, producer="identity", public_key=public, secret_ref=ref)
        if isinstance(command, SshKeyDeletionRequested):
            self.sshkeys.pop(command.name, None)
            return SshKeyDeleted(**made, producer="identity")
        return None

    def _secret(self, path: str, value: str) -> str:
        ref = f"secret://{path}"
        self.secrets[ref] = value
        return ref


COMMANDS = ("bucket.requested", "bucket.deletion.requested", "account.requested", "account.deletion.requested",
            "sshkey.requested", "sshkey.deletion.requested", "directory.removal.requested", "storage.removal.requested")


class Bus:
    """The test's own connection: publishes plans, plays the stand-in, reads the stream."""

    def __init__(self, url: str, stand_in: StandInForStorageAndIdentity) -> None:
        self.url, self.stand_in = url, stand_in
        self.loop = asyncio.new_event_loop()
        self.connection = self.loop.run_until_complete(nats.connect(url))
        self.js = self.connection.jetstream()
        self.loop.run_until_complete(ensure_stream(self.js))
        self.thread = None
        self.answering: set[asyncio.Task] = set()

    def start_stand_in(self) -> None:
        import threading

        async def serve():
            async def answer(msg):
                await asyncio.sleep(self.stand_in.latency)
                command = decode(msg.data)
                if command.type in self.stand_in.ignores:
                    return
                if command.type in self.stand_in.gives_up:
                    headers = {DEAD_LETTER_REASON: self.stand_in.gives_up[command.type], "Nats-Msg-Id": f"dlq-{command.event_id}"}
                    await self.js.publish(dead_letter(command.type), msg.data, headers=headers)
                    await msg.ack()
                    return
                reply = self.stand_in.answer(command)
                if reply is not None:
                    await self.js.publish(reply.subject(), encode(reply), headers={"Nats-Msg-Id": str(reply.event_id)})
                await msg.ack()

            async def on_command(msg):
                task = asyncio.create_task(answer(msg))
                self.answering.add(task)
                task.add_done_callback(self.answering.discard)

            async def on_secret(msg):
                request = SecretRequest.model_validate_json(msg.data)
                value = self.stand_in.secrets.get(request.ref)
                await msg.respond(SecretReply(value=value, error=None if value else "unknown").model_dump_json().encode())

            for subject in COMMANDS:
                await self.js.subscribe(subject, durable=f"stand-in-{subject.replace('.', '-')}", cb=on_command, manual_ack=True)
            await self.connection.subscribe("secret.get.*", cb=on_secret)

        self.loop.run_until_complete(serve())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def publish(self, message) -> None:
        self.run(self.js.publish(message.subject(), encode(message), headers={"Nats-Msg-Id": str(message.event_id)}))

    def messages(self) -> list:
        async def read():
            last = (await self.js.stream_info(STREAM)).state.last_seq
            out = []
            for seq in range(getattr(self, "_read", 0) + 1, last + 1):
                try:
                    out.append(decode((await self.js.get_msg(STREAM, seq)).data))
                except Exception:
                    continue
            return out, last

        found, last = self.run(read())
        self._cache = getattr(self, "_cache", []) + found
        self._read = last
        return list(self._cache)

    def of(self, deployment_id: str, type_: str | None = None) -> list:
        return [m for m in self.messages() if m.correlation_id == deployment_id and (type_ is None or m.type == type_)]

    def close(self) -> None:
        try:
            self.run(self.connection.close(), timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread:
            self.thread.join(5)
        self.loop.close()


# -- the world ---------------------------------------------------------------------------------------------


@dataclass
class World:
    home: Path
    nats: NatsServer
    proxmox: ProxmoxSandbox
    pdns: PdnsServer
    bus: Bus
    stand_in: StandInForStorageAndIdentity
    process: subprocess.Popen | None = None
    settings: dict = field(default_factory=dict)

    @property
    def nixos_state(self) -> Path:
        return self.home / "nixos"

    def env(self, **extra) -> dict[str, str]:
        values = {
            "NATS_URL": self.nats.url, "DATA_DIR": str(self.home / "orchestrator"),
            "PROXMOX_HOST": "127.0.0.1", "PROXMOX_PORT": str(self.proxmox.port), "PROXMOX_TOKEN_ID": TOKEN_ID,
            "PROXMOX_TOKEN_SECRET": TOKEN_SECRET, "PROXMOX_VERIFY_SSL": str(self.proxmox.cert_path),
            "PROXMOX_POLL_SECONDS": "0.02", "PROXMOX_SHUTDOWN_TIMEOUT_SECONDS": "1", "PROXMOX_NODES": "pve1,pve2",
            "RETRY_BACKOFF_SECONDS": "0.05", "RETRY_BACKOFF_MAX_SECONDS": "0.5", "TRANSIENT_DEADLINE_SECONDS": "60",
            "STEP_ATTEMPTS": "20", "REDELIVERY_BACKOFF_SECONDS": "0.1", "ACK_WAIT_SECONDS": "3",
            "PROGRESS_INTERVAL_SECONDS": "0.05", "LOG_LEVEL": "WARNING",
            "DNS_API_URL": self.pdns.api_url, "DNS_API_KEY": self.pdns.api_key,
            "DEPLOY_COMMAND": shlex.join(nixos_target.deploy_command(self.nixos_state)),
            "SECRETS_COMMAND": shlex.join(nixos_target.secrets_command(self.nixos_state)),
            **self.settings, **extra,
        }
        return os.environ | {f"FEDI_ORCHESTRATOR_{k}": str(v) for k, v in values.items()}

    def start(self, **extra) -> None:
        log = open(self.home / "orchestrator.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "services.orchestrator"], env=self.env(**extra), cwd=ROOT,
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def deploy(self, message: PlanCreated, timeout: float = 60) -> str:
        self.bus.publish(message)
        return self.finish(message.deployment_id, timeout)

    def finish(self, deployment_id: str, timeout: float = 60) -> str:
        return self.wait(lambda: next((m.type.rsplit(".", 1)[1] for m in self.bus.of(deployment_id) if m.type in FINAL), None),
                         timeout, f"deployment {deployment_id} to end")

    def wait(self, probe, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = probe()
            if result:
                return result
            if self.process and self.process.poll() is not None and self.process.returncode not in (0, 86):
                raise AssertionError(f"the orchestrator exited with {self.process.returncode}; see {self.home / 'orchestrator.log'}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def crash_at(self, *points: str) -> None:
        """The orchestrator exits at once (as a crash would) at each of these points, once each."""
        self.settings.update(CRASH_AT=",".join(points), CRASH_LOG=str(self.home / "crashes.log"))

    def crashes(self) -> list[str]:
        log = self.home / "crashes.log"
        return log.read_text().split() if log.exists() else []

    def finish_through_crashes(self, deployment_id: str, timeout: float = 120) -> str:
        """Waits for the deployment to end, starting the orchestrator again whenever it crashed."""

        def probe():
            if self.process.poll() == 86:
                self.start()
            return next((m.type.rsplit(".", 1)[1] for m in self.bus.of(deployment_id) if m.type in FINAL), None)

        return self.wait(probe, timeout, f"deployment {deployment_id} to end")

    def reason(self, deployment_id: str) -> str:
        failed = self.bus.of(deployment_id, "deployment.failed")
        return failed[-1].reason if failed else ""

    def proxmox_vms(self) -> list[dict]:
        """Every VM in the sandbox but the template, whoever made it."""
        return [vm for vm in self.proxmox.inventory() if not vm["template"]]

    def vms(self, operator: str | None = None) -> list[dict]:
        return [vm for vm in self.proxmox.inventory() if not vm["template"] and (operator is None or f"fedi-op-{operator}" in vm["tags"])]

    def stray_vm(self, operator: str, service: str) -> int:
        """A running VM with the operator's tags that nothing recorded, as an interrupted deployment leaves one."""
        cluster, vmid = self.proxmox.cluster, int(self.proxmox.cluster.nextid())
        cluster.clone({"node": "pve1", "vmid": 9000, "newid": vmid, "name": f"{operator}-{service}", "full": 1})
        self.wait(lambda: not next(vm for vm in self.proxmox_vms() if vm["vmid"] == vmid)["lock"], 10, f"VM {vmid}'s clone")
        cluster.update_config({"node": "pve1", "vmid": vmid, "tags": f"fedi;fedi-op-{operator};fedi-svc-{service}"}, sync=True)
        cluster.power("start", {"node": "pve1", "vmid": vmid})
        self.wait(lambda: next(vm for vm in self.proxmox_vms() if vm["vmid"] == vmid)["status"] == "running", 10, f"VM {vmid} to start")
        return vmid

    def records(self, zone: str) -> dict[tuple[str, str], tuple[str, ...]]:
        from services.orchestrator.adapters.dns import PowerDns

        with PowerDns(self.pdns.api_url, self.pdns.api_key) as dns:
            return {(r.name, r.type): r.contents for r in dns.rrsets(zone) if r.type not in ("SOA", "NS")}

    def recorded(self) -> dict[str, dict]:
        import sqlite3

        with sqlite3.connect(self.home / "orchestrator" / "orchestrator.db") as db:
            rows = db.execute("select resource_id, kind, state, outputs_json from resource_states").fetchall()
        return {rid: {"kind": kind, "state": state, **json.loads(outputs)} for rid, kind, state, outputs in rows}


@pytest.fixture
def world(tmp_path):
    require_pdns()
    nats_server = NatsServer(tmp_path / "nats").start()
    proxmox = ProxmoxSandbox(token_id=TOKEN_ID, token_secret=TOKEN_SECRET, nodes=("pve1", "pve2"), cert_dir=tmp_path / "tls").start()
    pdns = PdnsServer(tmp_path / "pdns").start()
    stand_in = StandInForStorageAndIdentity()
    bus = Bus(nats_server.url, stand_in)
    bus.start_stand_in()
    w = World(tmp_path, nats_server, proxmox, pdns, bus, stand_in)
    try:
        yield w
    finally:
        w.stop()
        bus.close()
        pdns.stop()
        proxmox.stop()
        nats_server.stop()
