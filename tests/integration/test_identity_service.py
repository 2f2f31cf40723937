"""The identity service as a process on a real nats-server with a real slapd as the provider's
directory, and a second real slapd as an operator's own directory. Commands go in through the
stream; what exists is read back from the directories themselves (binds and searches), secrets over
request/reply. Tests run in order: the key rotation and the secret scan come last."""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import ldap3
import nats
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from ldap3.utils.conv import escape_filter_chars
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import NotFoundError

from contracts import Message, decode, encode
from contracts.commands import AccountDeletionRequested, AccountRequested, DirectoryRemovalRequested, DirectorySyncRequested, SshKeyRequested
from contracts.directory import DirectoryParameters
from contracts.events import AccountCreated, AccountDeleted, DirectoryRemoved, DirectorySyncCompleted, DirectorySyncFailed, SshKeyCreated
from contracts.requests import DirectoryConnectionReply, DirectoryConnectionRequest, SecretReply
from contracts.subjects import DIRECTORY_CHECK, DIRECTORY_CONNECT, STREAM, secret_get
from runtime.nats_server import NatsServer
from sandbox.slapd import Slapd, missing
from services.identity.domain.passwords import ssha
from tests.conftest import ask_secret, blocking, require, stop_process

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUFFIX = "dc=fedi,dc=test"
THEIRS = "dc=acme,dc=example"
FIRST_KEY = "identity-test-key-one"


@dataclass
class World:
    home: Path
    nats: NatsServer
    provider: Slapd
    theirs: Slapd
    log: Path
    secret_key: str = FIRST_KEY
    previous_keys: tuple[str, ...] = ()
    process: subprocess.Popen | None = None
    secrets_seen: dict[str, str] = field(default_factory=dict)
    """ref -> value of every secret the tests were handed: none may appear in the stream or the log."""

    def start(self, **settings: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEDI_")} | {
            "FEDI_IDENTITY_NATS_URL": self.nats.url,
            "FEDI_IDENTITY_DATA_DIR": str(self.home / "identity"),
            "FEDI_IDENTITY_SECRET_KEY": self.secret_key,
            "FEDI_IDENTITY_PREVIOUS_SECRET_KEYS": json.dumps(list(self.previous_keys)),
            "FEDI_IDENTITY_LDAP_URL": self.provider.url,
            "FEDI_IDENTITY_LDAP_BIND_DN": self.provider.bind_dn,
            "FEDI_IDENTITY_LDAP_BIND_PASSWORD": self.provider.password,
            "FEDI_IDENTITY_LDAP_BASE_DN": SUFFIX,
            "FEDI_IDENTITY_SYNC_INTERVAL_SECONDS": "3600",
            "FEDI_IDENTITY_SYNC_POLL_SECONDS": "0.2",
            "FEDI_IDENTITY_REDELIVERY_BACKOFF_SECONDS": "0.1",
            "FEDI_IDENTITY_ACK_WAIT_SECONDS": "5",
            "FEDI_IDENTITY_LOG_LEVEL": "DEBUG",
        } | {f"FEDI_IDENTITY_{name}": value for name, value in settings.items()}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.identity"], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        blocking(_consuming(self))

    def stop(self) -> None:
        stop_process(self.process)

    def provider_entries(self, base: str) -> dict[str, dict]:
        return search(self.provider.url, self.provider.bind_dn, self.provider.password, base)


def search(url: str, bind_dn: str, password: str, base: str) -> dict[str, dict]:
    """Entries at or under `base` (DN in lower case -> attributes); empty when it does not exist."""
    with ldap3.Connection(ldap3.Server(url), bind_dn, password, auto_bind=True) as conn:
        conn.search(base, "(objectClass=*)", ldap3.SUBTREE, attributes=ldap3.ALL_ATTRIBUTES)
        return {entry.entry_dn.lower(): entry.entry_attributes_as_dict for entry in conn.entries}


def binds(url: str, dn: str, password: str) -> bool:
    if not password:
        return False
    conn = ldap3.Connection(ldap3.Server(url), dn, password)
    try:
        return conn.bind()
    finally:
        conn.unbind()


async def _consuming(world: World, deadline: float = 60.0) -> None:
    """Until the service has made its durable consumers and answers requests."""
    connection = await nats.connect(world.nats.url)
    try:
        until = time.monotonic() + deadline
        while True:
            assert world.process.poll() is None, f"identity exited: {world.log.read_text()[-3000:]}"
            try:
                await connection.jetstream().consumer_info(STREAM, "identity-account-requested")
                await connection.request(secret_get("identity"), b"{}", timeout=1)
                return
            except (NotFoundError, NoRespondersError, NatsTimeout):
                assert time.monotonic() < until, f"identity never subscribed: {world.log.read_text()[-3000:]}"
                await asyncio.sleep(0.1)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    require(missing())
    home = tmp_path_factory.mktemp("identity-service")
    server = NatsServer(home / "nats").start()
    provider = Slapd(home / "provider-ldap", suffix=SUFFIX).start()
    theirs = Slapd(home / "their-ldap", suffix=THEIRS).start()
    world = World(home, server, provider, theirs, home / "identity.log")
    try:
        world.start()
        yield world
    finally:
        world.stop()
        theirs.stop()
        provider.stop()
        server.stop()


class Bus:
    """Publishes commands into the stream, reads the answers back out of it, asks over request/reply."""

    def __init__(self, connection, world: World) -> None:  # noqa: ANN001
        self.connection = connection
        self.js = connection.jetstream()
        self.world = world

    async def send(self, command: Message) -> Message:
        await self.js.publish(command.subject(), encode(command), stream=STREAM, headers={"Nats-Msg-Id": str(command.event_id)})
        return command

    async def everything(self) -> list:
        last = (await self.js.stream_info(STREAM)).state.last_seq
        return [await self.js.get_msg(STREAM, seq) for seq in range(1, last + 1)]

    async def find(self, eventually, what: str, match) -> Message:  # noqa: ANN001
        async def look():
            for raw in await self.everything():
                if not raw.subject.startswith("dlq."):
                    message = decode(raw.data)
                    if match(message):
                        return message
            return None

        return await eventually(look, what)

    async def answer(self, command: Message, eventually) -> Message:
        return await self.find(eventually, f"an answer to {command.type}", lambda m: m.causation_id == str(command.event_id))

    async def secret(self, ref: str, requester: str = "orchestrator") -> SecretReply:
        reply = await ask_secret(self.world.nats.url, {}, ref, requester)
        if reply.value:
            self.world.secrets_seen[ref] = reply.value
        return reply

    async def directory(self, subject: str, operator: str, parameters: DirectoryParameters, password: str) -> DirectoryConnectionReply:
        self.world.secrets_seen[f"their-bind-password/{len(self.world.secrets_seen)}"] = password
        body = DirectoryConnectionRequest(operator_id=operator, parameters=parameters, bind_password=password)
        reply = await self.connection.request(subject, body.model_dump_json().encode(), timeout=30)
        return DirectoryConnectionReply.model_validate_json(reply.data)


@pytest.fixture
async def bus(world: World) -> Iterator[Bus]:
    connection = await nats.connect(world.nats.url)
    yield Bus(connection, world)
    await connection.close()


def operator() -> str:
    return f"op{uuid.uuid4().hex[:8]}"


def account_requested(operator_id: str, service: str, purpose: str = "admin", username: str = "alice") -> AccountRequested:
    return AccountRequested(
        correlation_id=f"dep-{uuid.uuid4()}", operator_id=operator_id, producer="orchestrator", deployment_id="dep-1",
        resource_id=f"{operator_id}/{service}/{'account' if purpose == 'admin' else 'mail'}", service=service,
        username=username, email=f"{username}@acme.example", display_name="Alice Example", purpose=purpose,
    )


async def admin_account(world: World, bus: Bus, eventually, operator_id: str, service: str) -> tuple[str, str]:
    """(DN, password) of the service's admin account, as the deployer would get them."""
    created = await bus.answer(await bus.send(account_requested(operator_id, service)), eventually)
    assert isinstance(created, AccountCreated), created
    reply = await bus.secret(created.secret_ref)
    assert reply.value, reply.error
    return f"uid=alice,ou={service},ou={operator_id},{SUFFIX}", reply.value


# -- admin accounts (US 1.1) --------------------------------------------------------------------------


async def test_every_enabled_service_gets_an_admin_account_valid_by_bind_and_a_wrong_password_is_refused(world, bus, eventually):
    acme = operator()
    mastodon, mastodon_password = await admin_account(world, bus, eventually, acme, "mastodon")
    pixelfed, pixelfed_password = await admin_account(world, bus, eventually, acme, "pixelfed")

    assert binds(world.provider.url, mastodon, mastodon_password)
    assert binds(world.provider.url, pixelfed, pixelfed_password)
    assert mastodon_password != pixelfed_password
    assert not binds(world.provider.url, mastodon, pixelfed_password)
    assert not binds(world.provider.url, mastodon, "wrong-password")
    admins = world.provider_entries(f"cn=admins,ou=mastodon,ou={acme},{SUFFIX}")
    assert [dn.lower() for dn in next(iter(admins.values()))["member"]] == [mastodon]


async def test_an_account_asked_for_while_the_directory_restarts_is_made_on_the_first_delivery_once_it_is_back(world, bus, eventually):
    acme = operator()
    world.provider.stop()
    try:
        command = await bus.send(account_requested(acme, "mastodon"))
        await asyncio.sleep(3)  # longer than the bus's first redeliveries would wait
    finally:
        world.provider.start()

    created = await bus.answer(command, eventually)

    assert isinstance(created, AccountCreated), created
    [raw] = [r for r in await bus.everything() if not r.subject.startswith("dlq.") and decode(r.data).event_id == created.event_id]
    assert raw.headers["Fedi-Delivery"] == "1", "identity waited for the directory instead of giving the message back"
    password = (await bus.secret(created.secret_ref)).value
    assert binds(world.provider.url, f"uid=alice,ou=mastodon,ou={acme},{SUFFIX}", password)


async def test_disabling_a_service_removes_its_admin_account_and_its_password(world, bus, eventually):
    acme = operator()
    mastodon, mastodon_password = await admin_account(world, bus, eventually, acme, "mastodon")
    pixelfed, pixelfed_password = await admin_account(world, bus, eventually, acme, "pixelfed")
    created = await bus.find(eventually, "mastodon's account", lambda m: isinstance(m, AccountCreated) and m.resource_id == f"{acme}/mastodon/account")

    deletion = AccountDeletionRequested(
        correlation_id=f"dep-{uuid.uuid4()}", operator_id=acme, producer="orchestrator", deployment_id="dep-2",
        resource_id=f"{acme}/mastodon/account", service="mastodon", username="alice",
    )
    assert isinstance(await bus.answer(await bus.send(deletion), eventually), AccountDeleted)

    assert not binds(world.provider.url, mastodon, mastodon_password)
    assert world.provider_entries(f"ou=mastodon,ou={acme},{SUFFIX}") == {}, "the account and the service's groups are gone"
    assert binds(world.provider.url, pixelfed, pixelfed_password), "the other service keeps its admin"
    assert (await bus.secret(created.secret_ref)).value is None


async def test_an_unauthorised_requester_gets_no_secret(world, bus, eventually):
    acme = operator()
    created = await bus.answer(await bus.send(account_requested(acme, "mastodon")), eventually)
    relay = await bus.answer(await bus.send(account_requested(acme, "mastodon", "smtp", f"{acme}-mastodon")), eventually)

    for ref, requester in ((created.secret_ref, "storage"), (created.secret_ref, "identity"), (relay.secret_ref, "panel")):
        reply = await bus.secret(ref, requester)
        assert reply.value is None and "may not read" in reply.error
    assert (await bus.secret(f"secret://identity/{uuid.uuid4()}")).value is None
    first, again = await bus.secret(created.secret_ref, "panel"), await bus.secret(created.secret_ref, "panel")
    assert first.value and again.value is None, "the panel reveals an admin password once"


# -- e-mail relay accounts (US 7.2) -----------------------------------------------------------------


class LdapBindAuthenticator:
    """The provider's relay, as saslauthd does it (nix/README.md): SMTP AUTH succeeds when the login,
    looked up as the relay's own account, binds with the password given."""

    def __init__(self, url: str, relay_dn: str, relay_password: str) -> None:
        self.url, self.relay_dn, self.relay_password = url, relay_dn, relay_password

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = escape_filter_chars(auth_data.login.decode())
        with ldap3.Connection(self.url, self.relay_dn, self.relay_password, auto_bind=True) as relay:
            relay.search(SUFFIX, f"(&(uid={login})(employeeType=smtp))", ldap3.SUBTREE)
            found = [entry.entry_dn for entry in relay.entries]
        # handled=False: aiosmtpd itself answers a refusal with 535 (handled=True would answer nothing).
        return AuthResult(success=len(found) == 1 and binds(self.url, found[0], auth_data.password.decode()), handled=False)


def relay_account(world: World) -> tuple[str, str]:
    """The relay's own lookup account, which the provider makes (cn=relay under the suffix)."""
    dn, password = f"cn=relay,{SUFFIX}", "relay-lookup-password"
    with ldap3.Connection(world.provider.url, world.provider.bind_dn, world.provider.password, auto_bind=True) as conn:
        conn.add(dn, ["organizationalRole", "simpleSecurityObject"], {"cn": "relay", "userPassword": ssha(password)})
    return dn, password


class Mailbox:
    def __init__(self) -> None:
        self.received: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.received.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_service_sends_mail_through_the_relay_with_its_relay_account_and_a_wrong_password_is_refused(world, bus, eventually):
    acme = operator()
    username = f"{acme}-mastodon"
    created = await bus.answer(await bus.send(account_requested(acme, "mastodon", "smtp", username)), eventually)
    password = (await bus.secret(created.secret_ref)).value
    mailbox = Mailbox()
    relay = Controller(
        mailbox, hostname="127.0.0.1", port=free_port(), authenticator=LdapBindAuthenticator(world.provider.url, *relay_account(world)),
        auth_required=True, auth_require_tls=False,
    )
    relay.start()
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "mastodon@acme.example", "bob@elsewhere.example", "Welcome"
        message.set_content("Your account is ready.")

        def send(secret: str) -> None:
            with smtplib.SMTP(relay.hostname, relay.port, timeout=10) as client:
                client.login(username, secret)
                client.send_message(message)

        await asyncio.to_thread(send, password)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            await asyncio.to_thread(send, "wrong-password")
    finally:
        relay.stop()

    assert len(mailbox.received) == 1
    assert mailbox.received[0].mail_from == "mastodon@acme.example"
    assert b"Your account is ready." in mailbox.received[0].content


# -- the operator's own directory (US 1.2) ----------------------------------------------------------


def their(directory: Slapd, *changes) -> None:  # noqa: ANN002
    """Applies (kind, dn, attributes) changes to an operator's own directory as its administrator."""
    with ldap3.Connection(ldap3.Server(directory.url), directory.bind_dn, directory.password, auto_bind=True) as conn:
        for kind, dn, attributes in changes:
            if kind == "add":
                classes = attributes.pop("objectClass")
                assert conn.add(dn, classes, attributes), conn.result
            elif kind == "modify":
                assert conn.modify(dn, {name: [(ldap3.MODIFY_REPLACE, values)] for name, values in attributes.items()}), conn.result
            else:
                assert conn.delete(dn), conn.result


def staff(uid: str) -> str:
    return f"uid={uid},ou=staff,{THEIRS}"


def unit(name: str) -> tuple:
    return ("add", f"ou={name},{THEIRS}", {"objectClass": ["organizationalUnit"]})


def person(uid: str, cn: str, mail: str) -> tuple:
    return ("add", staff(uid), {"objectClass": ["inetOrgPerson"], "cn": cn, "sn": cn, "mail": mail})


def group(cn: str, *uids: str) -> tuple:
    return ("add", f"cn={cn},ou=groups,{THEIRS}", {"objectClass": ["groupOfNames"], "member": [staff(uid) for uid in uids]})


def gone(dn: str) -> tuple:
    return ("delete", dn, {})


def parameters(world: World, **changes) -> DirectoryParameters:
    return DirectoryParameters(
        url=world.theirs.url, bind_dn=world.theirs.bind_dn, base_dn=THEIRS,
        mapping={"moderators": {"mastodon": "moderators"}, "everyone": {"mastodon": "users"}},
    ).model_copy(update=changes)


@pytest.fixture(scope="module")
def their_directory(world):
    their(
        world.theirs, unit("staff"), unit("groups"),
        person("bob", "Bob Builder", "bob@acme.example"), person("carol", "Carol Cook", "carol@acme.example"),
        group("moderators", "bob"), group("everyone", "bob", "carol"),
    )
    return world.theirs


@pytest.fixture
def own_directory(world, tmp_path) -> Iterator[Slapd]:
    """An operator's directory only this test changes: what it deletes, no later test misses."""
    server = Slapd(tmp_path / "own-ldap", suffix=THEIRS).start()
    their(server, unit("staff"), unit("groups"))
    yield server
    server.stop()


async def sync_now(bus: Bus, eventually, acme: str) -> Message:  # noqa: ANN001
    """What identity answers to the panel's "Sync now": the sync's report, or why it could not run."""
    asked = DirectorySyncRequested(correlation_id=f"sync-{uuid.uuid4()}", operator_id=acme, producer="panel")
    return await bus.answer(await bus.send(asked), eventually)


def members(world: World, acme: str, role: str) -> set[str]:
    entry = world.provider_entries(f"cn={role},ou=mastodon,ou={acme},{SUFFIX}")
    return {dn.split(",")[0].removeprefix("uid=") for dn in next(iter(entry.values()))["member"] if dn.endswith(f"ou=people,ou={acme},{SUFFIX}")}


def people(world: World, acme: str) -> dict[str, dict]:
    found = world.provider_entries(f"ou=people,ou={acme},{SUFFIX}")
    return {attrs["uid"][0]: attrs for attrs in found.values() if attrs.get("uid")}


async def test_wrong_connection_parameters_give_a_clear_error_and_change_nothing(world, bus, eventually, their_directory):
    acme = operator()
    await admin_account(world, bus, eventually, acme, "mastodon")
    before = world.provider_entries(f"ou={acme},{SUFFIX}")
    right = world.theirs.password
    wrong = {
        "bad_credentials": (parameters(world), "not-their-password"),
        "unreachable": (parameters(world, url=f"ldap://127.0.0.1:{free_port()}"), right),
        "no_base": (parameters(world, base_dn="dc=nowhere,dc=example"), right),
        "empty": (parameters(world, user_filter="(uid=nobody-at-all)"), right),
        "bad_filter": (parameters(world, user_filter="(uid=unclosed"), right),
        "unknown_group": (parameters(world, mapping={"no-such-group": {"mastodon": "admins"}}), right),
    }

    for problem, (params, password) in wrong.items():
        for subject in (DIRECTORY_CHECK, DIRECTORY_CONNECT):
            reply = await bus.directory(subject, acme, params, password)
            assert not reply.ok and reply.problem == problem, (subject, reply)
            assert reply.error and len(reply.error) > 20, reply

    assert world.provider_entries(f"ou={acme},{SUFFIX}") == before
    answer = await sync_now(bus, eventually, acme)
    assert isinstance(answer, DirectorySyncFailed) and answer.problem == "not_connected", "nothing was kept"


async def test_their_users_and_groups_appear_change_and_disappear_in_our_directory_after_a_sync(world, bus, eventually, their_directory):
    acme = operator()
    await admin_account(world, bus, eventually, acme, "mastodon")
    check = await bus.directory(DIRECTORY_CHECK, acme, parameters(world), world.theirs.password)
    assert check.ok and (check.users, check.groups) == (2, 2)

    connect = await bus.directory(DIRECTORY_CONNECT, acme, parameters(world), world.theirs.password)
    assert connect.ok, connect
    first = await bus.find(eventually, "the first sync", lambda m: isinstance(m, DirectorySyncCompleted) and m.operator_id == acme)
    assert (first.trigger, first.users_added, first.memberships_added) == ("connect", 2, 3)
    assert {uid: p["mail"] for uid, p in people(world, acme).items()} == {"bob": ["bob@acme.example"], "carol": ["carol@acme.example"]}
    assert members(world, acme, "moderators") == {"bob"} and members(world, acme, "users") == {"bob", "carol"}

    their(
        world.theirs,
        ("modify", staff("bob"), {"cn": ["Robert Builder"], "mail": ["robert@acme.example"]}),
        gone(f"cn=everyone,ou=groups,{THEIRS}"),
        group("everyone", "bob", "dave"),
        person("dave", "Dave Diver", "dave@acme.example"),
        gone(staff("carol")),
    )
    second = await sync_now(bus, eventually, acme)

    assert isinstance(second, DirectorySyncCompleted), second
    assert (second.trigger, second.users_added, second.users_updated, second.users_removed) == ("demand", 1, 1, 1)
    now = people(world, acme)
    assert set(now) == {"bob", "dave"}
    assert now["bob"]["cn"] == ["Robert Builder"] and now["bob"]["mail"] == ["robert@acme.example"]
    assert members(world, acme, "users") == {"bob", "dave"} and members(world, acme, "moderators") == {"bob"}
    admins = world.provider_entries(f"cn=admins,ou=mastodon,ou={acme},{SUFFIX}")
    assert [dn.lower() for dn in next(iter(admins.values()))["member"]] == [f"uid=alice,ou=mastodon,ou={acme},{SUFFIX}"]


async def test_a_mapped_group_deleted_on_their_side_takes_its_role_away_and_the_sync_still_applies_every_other_change(
    world, bus, eventually, own_directory
):
    acme = operator()
    admin_dn, _ = await admin_account(world, bus, eventually, acme, "mastodon")
    their(
        own_directory, person("bob", "Bob Builder", "bob@acme.example"), person("carol", "Carol Cook", "carol@acme.example"),
        person("erin", "Erin Example", "erin@acme.example"), group("it", "bob", "carol"), group("everyone", "bob", "carol", "erin"),
    )
    mapped = parameters(world, url=own_directory.url, mapping={"it": {"mastodon": "admins"}, "everyone": {"mastodon": "users"}})
    assert (await bus.directory(DIRECTORY_CONNECT, acme, mapped, own_directory.password)).ok
    await bus.find(eventually, "the first sync", lambda m: isinstance(m, DirectorySyncCompleted) and m.operator_id == acme)
    assert members(world, acme, "admins") == {"bob", "carol"}

    their(
        own_directory,
        gone(f"cn=it,ou=groups,{THEIRS}"),
        ("modify", staff("bob"), {"mail": ["robert@acme.example"]}),
        person("dave", "Dave Diver", "dave@acme.example"),
        ("modify", f"cn=everyone,ou=groups,{THEIRS}", {"member": [staff("bob"), staff("carol"), staff("dave")]}),
        gone(staff("erin")),
    )
    after = await sync_now(bus, eventually, acme)

    assert isinstance(after, DirectorySyncCompleted), after
    assert members(world, acme, "admins") == set(), "the group's former members are admins no more"
    admins = world.provider_entries(f"cn=admins,ou=mastodon,ou={acme},{SUFFIX}")
    assert [dn.lower() for dn in next(iter(admins.values()))["member"]] == [admin_dn], "the service's own admin account stays"
    assert (after.users_added, after.users_updated, after.users_removed) == (1, 1, 1)
    now = people(world, acme)
    assert set(now) == {"bob", "carol", "dave"} and now["bob"]["mail"] == ["robert@acme.example"]
    assert members(world, acme, "users") == {"bob", "carol", "dave"}
    [missing] = after.missing_groups
    assert (missing.group, missing.roles_lost) == ("it", {"mastodon": {"admins": 2}})
    assert "'it' was not found" in missing.message and "2 people lost the admins role in mastodon" in missing.message

    again = await sync_now(bus, eventually, acme)
    assert isinstance(again, DirectorySyncCompleted) and (again.users_added, again.users_removed) == (0, 0)
    assert [(m.group, m.roles_lost) for m in again.missing_groups] == [("it", {"mastodon": {"admins": 0}})], (
        "said again on every sync until the mapping is put right"
    )


async def test_a_connected_directory_is_synced_again_on_schedule_and_a_failed_sync_is_reported_too(
    world, bus, eventually, their_directory
):
    acme = operator()
    synced = lambda trigger, kind=DirectorySyncCompleted: lambda m: (  # noqa: E731
        isinstance(m, kind) and m.operator_id == acme and m.trigger == trigger)
    world.stop()
    world.start(SYNC_INTERVAL_SECONDS="1")
    try:
        await admin_account(world, bus, eventually, acme, "mastodon")
        assert (await bus.directory(DIRECTORY_CONNECT, acme, parameters(world), world.theirs.password)).ok
        first = await bus.find(eventually, "the sync on connect", synced("connect"))
        synced_people = set(people(world, acme))
        scheduled = await bus.find(eventually, "a scheduled sync", synced("schedule"))
        world.theirs.stop()
        try:
            failed = await bus.find(eventually, "a scheduled sync that failed", synced("schedule", DirectorySyncFailed))
        finally:
            world.theirs.start()
    finally:
        world.stop()
        world.start()

    assert (scheduled.users_total, scheduled.users_added, scheduled.users_removed) == (first.users_total, 0, 0), "nothing changed"
    assert failed.problem == "unreachable" and world.theirs.url.split("//")[1] in failed.reason, failed.reason
    assert synced_people and set(people(world, acme)) == synced_people, "a failed sync removes nobody"


# -- an operator's removal (US 6.3, identity's side) ------------------------------------------------


async def an_operator_with_a_secret_of_every_kind(world: World, bus: Bus, eventually) -> tuple[str, dict[str, str]]:  # noqa: ANN001
    """A new operator with mastodon's admin and relay accounts, an SSH deploy key, and their directory
    connected and synced once. Returns the operator and each secret's value by its reference; the bind
    password of their directory, which identity alone reads, shows it is readable by a sync succeeding."""
    acme = operator()
    made = [
        await bus.answer(await bus.send(account_requested(acme, "mastodon")), eventually),
        await bus.answer(await bus.send(account_requested(acme, "mastodon", "smtp", f"{acme}-mastodon")), eventually),
        await bus.answer(await bus.send(SshKeyRequested(
            correlation_id=f"dep-{uuid.uuid4()}", operator_id=acme, producer="orchestrator", deployment_id="dep-1",
            resource_id=f"{acme}/_/sshkey", name=f"{acme}-deploy",
        )), eventually),
    ]
    assert [type(m) for m in made] == [AccountCreated, AccountCreated, SshKeyCreated], made
    secrets = {m.secret_ref: (await bus.secret(m.secret_ref)).value for m in made}
    assert all(secrets.values()) and secrets[made[-1].secret_ref].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert (await bus.directory(DIRECTORY_CONNECT, acme, parameters(world), world.theirs.password)).ok
    await bus.find(eventually, "the first sync", lambda m: isinstance(m, DirectorySyncCompleted) and m.operator_id == acme)
    return acme, secrets


async def test_removing_an_operator_removes_its_whole_subtree_its_directory_link_and_its_secrets_with_a_report(
    world, bus, eventually, their_directory
):
    acme, secrets = await an_operator_with_a_secret_of_every_kind(world, bus, eventually)
    subtree = world.provider_entries(f"ou={acme},{SUFFIX}")
    assert people(world, acme) and members(world, acme, "users"), "their people and groups were synced in"
    other = operator()
    _, others_password = await admin_account(world, bus, eventually, other, "mastodon")

    removal = DirectoryRemovalRequested(correlation_id=f"rm-{uuid.uuid4()}", operator_id=acme, producer="orchestrator", deployment_id="rm-1")
    report = await bus.answer(await bus.send(removal), eventually)

    assert isinstance(report, DirectoryRemoved), report
    assert (report.deployment_id, report.entries_removed) == ("rm-1", len(subtree))
    assert (report.accounts_removed, report.ssh_keys_removed, report.external_link_removed) == (2, 1, True)
    assert report.secrets_removed == 4, "two passwords, the private key and the bind password of their directory"
    assert world.provider_entries(f"ou={acme},{SUFFIX}") == {}, "accounts, people, groups and units are gone"
    for ref in secrets:
        assert (await bus.secret(ref)).error == "no such secret"
    sync = await sync_now(bus, eventually, acme)
    assert isinstance(sync, DirectorySyncFailed) and sync.problem == "not_connected", "the link to their directory is gone"
    assert binds(world.provider.url, f"uid=alice,ou=mastodon,ou={other},{SUFFIX}", others_password), "another operator keeps theirs"

    again = await bus.answer(await bus.send(removal.model_copy(update={"event_id": uuid.uuid4()})), eventually)
    assert isinstance(again, DirectoryRemoved) and (again.entries_removed, again.secrets_removed) == (0, 0), "removing twice is harmless"


# -- the operator's directory reader (the account its VMs bind as) ---------------------------------


def reader_requested(operator_id: str) -> AccountRequested:
    return AccountRequested(
        correlation_id=f"dep-{uuid.uuid4()}", operator_id=operator_id, producer="orchestrator", deployment_id="dep-1",
        resource_id=f"{operator_id}/_/account/reader", service="_", username="reader", email="",
        display_name=f"Directory reader of {operator_id}'s services", purpose="reader",
    )


async def test_the_operators_reader_binds_with_a_password_only_the_orchestrator_may_read_and_reads_only_its_subtree(world, bus, eventually):
    acme, other = operator(), operator()
    _, others_password = await admin_account(world, bus, eventually, other, "mastodon")
    await admin_account(world, bus, eventually, acme, "mastodon")

    created = await bus.answer(await bus.send(reader_requested(acme)), eventually)

    assert isinstance(created, AccountCreated) and (created.service, created.username) == ("_", "reader"), created
    for requester in ("panel", "storage"):
        assert "may not read" in (await bus.secret(created.secret_ref, requester)).error
    password = (await bus.secret(created.secret_ref)).value
    reader = f"cn=reader,ou={acme},{SUFFIX}"
    assert binds(world.provider.url, reader, password) and not binds(world.provider.url, reader, others_password)
    assert "inetOrgPerson" not in world.provider_entries(reader)[reader]["objectClass"]
    seen = search(world.provider.url, reader, password, f"ou={acme},{SUFFIX}")
    assert f"uid=alice,ou=mastodon,ou={acme},{SUFFIX}" in seen and all("userPassword" not in attrs for attrs in seen.values())
    assert search(world.provider.url, reader, password, f"ou={other},{SUFFIX}") == {}, "another operator's subtree stays hidden"
    again = await bus.answer(await bus.send(reader_requested(acme)), eventually)
    assert again.secret_ref == created.secret_ref and binds(world.provider.url, reader, password), "asking again changes nothing"


async def test_the_reader_is_deleted_with_its_password_when_the_directory_is_switched_off_or_the_operator_removed(world, bus, eventually):
    switched_off, removed = operator(), operator()
    made = {acme: await bus.answer(await bus.send(reader_requested(acme)), eventually) for acme in (switched_off, removed)}
    passwords = {acme: (await bus.secret(created.secret_ref)).value for acme, created in made.items()}

    deletion = AccountDeletionRequested(
        correlation_id=f"dep-{uuid.uuid4()}", operator_id=switched_off, producer="orchestrator", deployment_id="dep-2",
        resource_id=f"{switched_off}/_/account/reader", service="_", username="reader", purpose="reader",
    )
    assert isinstance(await bus.answer(await bus.send(deletion), eventually), AccountDeleted)
    removal = DirectoryRemovalRequested(
        correlation_id=f"rm-{uuid.uuid4()}", operator_id=removed, producer="orchestrator", deployment_id="rm-1",
    )
    report = await bus.answer(await bus.send(removal), eventually)
    assert (report.entries_removed, report.accounts_removed, report.secrets_removed) == (2, 1, 1), "the reader and ou=<operator>"

    for acme, created in made.items():
        assert not binds(world.provider.url, f"cn=reader,ou={acme},{SUFFIX}", passwords[acme])
        assert world.provider_entries(f"cn=reader,ou={acme},{SUFFIX}") == {}
        assert (await bus.secret(created.secret_ref)).error == "no such secret"


# -- secrets at rest, and in transit (last: they restart the service and scan everything) ---------


async def test_rotating_the_key_keeps_every_secret_readable(world, bus, eventually, their_directory):
    acme, secrets = await an_operator_with_a_secret_of_every_kind(world, bus, eventually)
    reader = await bus.answer(await bus.send(reader_requested(acme)), eventually)
    secrets[reader.secret_ref] = (await bus.secret(reader.secret_ref)).value
    assert len(secrets) == 4 and all(secrets.values()), "admin, relay and reader passwords and the SSH private key"

    for previous_keys, when in (((FIRST_KEY,), "the old key still given"), ((), "the old key dropped: all re-encrypted")):
        world.stop()
        world.secret_key, world.previous_keys = "identity-test-key-two", previous_keys
        world.start()
        read = {ref: (await bus.secret(ref)).value for ref in secrets}
        synced = await sync_now(bus, eventually, acme)

        assert read == secrets, when
        assert isinstance(synced, DirectorySyncCompleted), (when, "a sync reads the bind password of their directory", synced)


async def test_no_secret_appears_in_the_stream_or_the_log(world, bus):
    values = {value for value in world.secrets_seen.values() if value} | {world.provider.password}
    assert len(values) >= 8
    messages = await bus.everything()
    log = world.log.read_text()

    for message in messages:
        everything = message.data + json.dumps(message.headers or {}).encode()
        for value in values:
            assert value.encode() not in everything, f"a secret leaked into {message.subject}"
    for value in values:
        assert value not in log, "a secret leaked into the service's log"
    assert FIRST_KEY not in log and "identity-test-key-two" not in log
