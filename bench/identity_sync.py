"""How long identity takes to sync an operator's own LDAP directory of 10,000 users into the
provider's directory (Syncer.sync: fetch their users and groups, plan, apply to our subtree), on two
real slapd servers, against a baseline measured in the same run: one paged read of those users from
their directory (fetch_snapshot alone).

    .venv/bin/python bench/identity_sync.py [--users 10000] [--runs 3]

Their directory is seeded offline (slapadd, not timed) with the users in three groups mapped to
mastodon's admins, moderators and users; mastodon is deployed (it has an admin account). Timed: the
first sync (every user added, with its memberships), a resync with nothing changed (median of
--runs), and a resync after 1% of the users changed their mail and 1% were removed. Identity runs
in-process, wired as bootstrap wires it, on an SQLite database with its migrations. Exits non-zero
when our subtree does not end up holding their users and memberships.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Collection
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

import ldap3
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts import decode  # noqa: E402
from contracts.commands import AccountRequested  # noqa: E402
from contracts.directory import DirectoryParameters  # noqa: E402
from contracts.events import DirectorySyncCompleted  # noqa: E402
from contracts.requests import DirectoryConnectionRequest  # noqa: E402
from runtime import logs  # noqa: E402
from runtime.db import Database  # noqa: E402
from runtime.service import migrations_of  # noqa: E402
from runtime.uow import UnitsOfWork  # noqa: E402
from sandbox.slapd import Slapd  # noqa: E402
from services.identity import bootstrap, handlers  # noqa: E402
from services.identity.adapters.external import fetch_snapshot  # noqa: E402
from services.identity.adapters.store import Base  # noqa: E402
from services.identity.directory import Directory  # noqa: E402
from services.identity.settings import Settings  # noqa: E402
from services.identity.syncing import Syncer  # noqa: E402

THEIRS, SUFFIX, OPERATOR, SERVICE = "dc=acme,dc=example", "dc=fedi,dc=test", "acme", "mastodon"
MAPPING = {"it": {SERVICE: "admins"}, "staff": {SERVICE: "moderators"}, "everyone": {SERVICE: "users"}}


def uid(i: int) -> str:
    return f"user{i:06d}"


def user_dn(i: int) -> str:
    return f"uid={uid(i)},ou=staff,{THEIRS}"


def their_groups(users: int) -> dict[str, range]:
    return {"it": range(min(10, users)), "staff": range(0, users, 10), "everyone": range(users)}


def seed_ldif(users: int) -> str:
    entries = [f"dn: ou={ou},{THEIRS}\nobjectClass: organizationalUnit\nou: {ou}\n" for ou in ("staff", "groups")]
    entries += [
        f"dn: {user_dn(i)}\nobjectClass: inetOrgPerson\nuid: {uid(i)}\ncn: User {i}\nsn: {i}\n"
        f"givenName: User\ndisplayName: User {i}\nmail: {uid(i)}@acme.example\n"
        for i in range(users)
    ]
    entries += [
        "\n".join([f"dn: cn={name},ou=groups,{THEIRS}", "objectClass: groupOfNames", f"cn: {name}",
                   *(f"member: {user_dn(i)}" for i in members)]) + "\n"
        for name, members in their_groups(users).items()
    ]
    return "\n".join(entries)


def their_directory(home: Path, users: int) -> Slapd:
    theirs = Slapd(home / "theirs", suffix=THEIRS).start()
    theirs.stop()
    theirs.load(seed_ldif(users))
    return theirs.start()


def change_theirs(theirs: Slapd, users: int) -> tuple[set[int], set[int]]:
    """1% of the users get a new mail, another 1% leave (and their groups)."""
    changed, removed = set(range(0, users, 100)), set(range(1, users, 100))
    server = ldap3.Server(theirs.url)
    with ldap3.Connection(server, theirs.bind_dn, theirs.password, auto_bind=True, raise_exceptions=True) as conn:
        for i in changed:
            conn.modify(user_dn(i), {"mail": [(ldap3.MODIFY_REPLACE, [f"{uid(i)}@new.acme.example"])]})
        for name, members in their_groups(users).items():
            if gone := [user_dn(i) for i in members if i in removed]:
                conn.modify(f"cn={name},ou=groups,{THEIRS}", {"member": [(ldap3.MODIFY_DELETE, gone)]})
        for i in removed:
            conn.delete(user_dn(i))
    return changed, removed


async def identity(home: Path, provider: Slapd) -> tuple[Database, UnitsOfWork, Syncer, Directory]:
    settings = Settings(
        data_dir=home / "identity", ldap_url=provider.url, ldap_bind_dn=provider.bind_dn,
        ldap_bind_password=provider.password, ldap_base_dn=SUFFIX,
    )
    database = Database(settings.sqlalchemy_url())
    await database.migrate(migrations_of(bootstrap.__file__))
    units = UnitsOfWork(database, Base.metadata)
    secrets_store, directories = bootstrap.secret_store(settings), bootstrap.directories(settings)
    fetch = partial(fetch_snapshot, timeout=settings.ldap_timeout_seconds)
    syncer = Syncer(units, directories, secrets_store, fetch, settings.sync_interval_seconds, settings.sync_poll_seconds)
    deploy = AccountRequested(
        correlation_id="bench", operator_id=OPERATOR, producer="orchestrator", deployment_id="bench",
        resource_id=f"{OPERATOR}/{SERVICE}/account", service=SERVICE, username="alice",
        email="alice@acme.example", display_name="Alice", purpose="admin",
    )
    async with units() as uow:
        await handlers.create_account(deploy, uow, secrets_store, directories)
        await uow.commit()
    return database, units, syncer, directories(None)


async def timed_sync(syncer: Syncer, units: UnitsOfWork) -> tuple[float, DirectorySyncCompleted]:
    started = time.perf_counter()
    await syncer.sync(OPERATOR)
    elapsed = time.perf_counter() - started
    async with units() as uow:
        last = (await uow.session.execute(select(units.outbox.c.payload).order_by(units.outbox.c.id.desc()))).scalar()
    event = decode(last)
    if not isinstance(event, DirectorySyncCompleted):
        raise SystemExit(f"the sync failed: {event}")
    return elapsed, event


async def check(directory: Directory, users: int, changed: Collection[int] = (), removed: Collection[int] = ()) -> None:
    people = await directory.people(OPERATOR)
    present = {uid(i) for i in range(users) if i not in removed}
    if set(people) != present:
        raise SystemExit(f"our subtree holds {len(people)} people, expected {len(present)}")
    if stale := [uid(i) for i in changed if people[uid(i)].get("mail") != [f"{uid(i)}@new.acme.example"]]:
        raise SystemExit(f"{len(stale)} changed mails were not synced, e.g. {stale[0]}")
    groups = await directory.groups(OPERATOR, {SERVICE})
    for name, targets in MAPPING.items():
        for role in targets.values():
            have = {dn.split(",")[0].removeprefix("uid=") for dn in groups[(SERVICE, role)] if directory.tree.is_person(OPERATOR, dn)}
            if have != {uid(i) for i in their_groups(users)[name] if i not in removed}:
                raise SystemExit(f"{SERVICE}'s {role} has {len(have)} synced members, not those of their {name}")
    if directory.tree.admin(OPERATOR, SERVICE, "alice") not in groups[(SERVICE, "admins")]:
        raise SystemExit("the service's own admin account left its admins group")


async def measure(home: Path, users: int, runs: int, stack: AsyncExitStack) -> list[tuple[str, float, int]]:
    """(what, seconds, users covered) for the baseline and each sync, checking each sync's outcome."""
    theirs = their_directory(home, users)
    stack.callback(theirs.stop)
    provider = Slapd(home / "provider", suffix=SUFFIX).start()
    stack.callback(provider.stop)
    database, units, syncer, directory = await identity(home, provider)
    stack.push_async_callback(database.close)

    parameters = DirectoryParameters(url=theirs.url, bind_dn=theirs.bind_dn, base_dn=THEIRS, mapping=MAPPING)
    reads = []
    for _ in range(runs):
        started = time.perf_counter()
        snapshot = fetch_snapshot(parameters, theirs.password)
        reads.append(time.perf_counter() - started)
    if len(snapshot.users) != users:
        raise SystemExit(f"read {len(snapshot.users)} users from their directory, expected {users}")
    connect = DirectoryConnectionRequest(operator_id=OPERATOR, parameters=parameters, bind_password=theirs.password)
    if not (reply := await syncer.connect(connect)).ok:
        raise SystemExit(f"connecting their directory failed: {reply.error}")

    first, added = await timed_sync(syncer, units)
    await check(directory, users)
    unchanged = [await timed_sync(syncer, units) for _ in range(runs)]
    counts = ("users_added", "users_updated", "users_removed", "memberships_added", "memberships_removed")
    if any(getattr(event, count) for _, event in unchanged for count in counts):
        raise SystemExit(f"a resync with nothing changed changed something: {unchanged}")
    changed, removed = change_theirs(theirs, users)
    after, event = await timed_sync(syncer, units)
    await check(directory, users, changed, removed)
    return [
        (f"read their {users} users (fetch_snapshot, baseline, median of {runs})", statistics.median(reads), users),
        (f"first sync ({added.users_added} added, {added.memberships_added} memberships)", first, users),
        (f"resync, nothing changed (median of {runs})", statistics.median(t for t, _ in unchanged), users),
        (f"resync ({event.users_updated} changed, {event.users_removed} removed, "
         f"{event.memberships_removed} memberships removed)", after, event.users_total),
    ]


async def bench(home: Path, users: int, runs: int) -> None:
    async with AsyncExitStack() as stack:
        rows = await measure(home, users, runs, stack)
    baseline = rows[0][1]
    print(f"their directory: {users} users in {len(MAPPING)} groups mapped to {SERVICE}'s admins/moderators/users")
    for what, seconds, count in rows:
        print(f"{what:<72} {seconds:7.2f} s {count / seconds:8.0f} users/s   ratio {seconds / baseline:6.2f}")
    print(f"check: our subtree holds their {rows[-1][2]} users and their memberships")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logs.configure("identity", "WARNING")
    with tempfile.TemporaryDirectory(prefix="fedi-bench-identity-") as home:
        asyncio.run(bench(Path(home), args.users, args.runs))


if __name__ == "__main__":
    main()
