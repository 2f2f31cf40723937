"""The directory port, one suite for both adapters: a real OpenLDAP slapd (ldap3) and the embedded
directory in identity's database. Accounts are valid by bind, removed ones are gone, syncs apply.
On the real slapd, an operator's reader reads that operator's subtree only, never a password, and
changes nothing."""

from pathlib import Path

import ldap3
import pytest

from runtime.db import Database
from runtime.service import migrations_of
from sandbox.slapd import RELAY, Slapd, access_rules, missing
from services.configurator.domain.nixos import directory_settings
from services.configurator.domain.policy import parse_policy
from services.identity import bootstrap
from services.identity.adapters.db_directory import DbEntries
from services.identity.adapters.ldap import LdapEntries
from services.identity.directory import Directory
from services.identity.domain.entries import Add, Replace
from services.identity.domain.passwords import ssha
from services.identity.domain.sync import Snapshot, person_entry, plan_sync
from services.identity.domain.tree import Tree
from tests.conftest import require

pytestmark = pytest.mark.integration
SUFFIX = "dc=fedi,dc=test"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def slapd_installed() -> None:
    require(missing())


@pytest.fixture
def provider_ldap(tmp_path, slapd_installed):
    """The provider's directory: a real slapd on a free port."""
    server = Slapd(tmp_path / "provider-ldap", suffix=SUFFIX).start()
    yield server
    server.stop()


@pytest.fixture(params=["openldap", "embedded"])
async def directory(request, tmp_path):
    if request.param == "openldap":
        server = request.getfixturevalue("provider_ldap")
        yield Directory(LdapEntries(server.url, server.bind_dn, server.password), Tree(SUFFIX))
        return
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}")
    await database.migrate(migrations_of(bootstrap.__file__))
    async with database.session() as session:
        yield Directory(DbEntries(session), Tree(SUFFIX))
    await database.close()


async def admin(directory: Directory, service: str, password: str = "right-password", username: str = "alice") -> str:
    return await directory.put_account("acme", service, username, "Alice Example", "alice@acme.example", password, "admin")


async def test_an_admin_account_is_valid_by_bind_and_a_wrong_password_is_refused(directory):
    dn = await admin(directory, "mastodon")

    assert dn == "uid=alice,ou=mastodon,ou=acme,dc=fedi,dc=test"
    assert await directory.bind(dn, "right-password")
    assert not await directory.bind(dn, "wrong-password")
    assert not await directory.bind(dn, "")


async def test_the_directory_stores_a_salted_hash_never_the_password(directory):
    dn = await admin(directory, "mastodon")

    stored = (await directory.entries.read(dn, "base"))[dn]["userPassword"]

    assert len(stored) == 1 and stored[0].startswith("{SSHA}") and "right-password" not in stored[0]


async def test_every_enabled_service_gets_its_own_admin_account_in_its_admins_group(directory):
    mastodon = await admin(directory, "mastodon", "mastodon-password")
    pixelfed = await admin(directory, "pixelfed", "pixelfed-password")

    groups = await directory.groups("acme", {"mastodon", "pixelfed"})

    assert set(groups) == {(s, r) for s in ("mastodon", "pixelfed") for r in ("admins", "moderators", "users")}
    assert groups[("mastodon", "admins")] == [mastodon] and groups[("pixelfed", "admins")] == [pixelfed]
    assert await directory.bind(pixelfed, "pixelfed-password") and not await directory.bind(pixelfed, "mastodon-password")


async def test_asking_again_for_an_account_keeps_one_entry_with_the_new_password(directory):
    first = await admin(directory, "mastodon", "first-password")
    again = await admin(directory, "mastodon", "second-password")

    assert first == again
    assert await directory.bind(again, "second-password") and not await directory.bind(again, "first-password")
    assert (await directory.groups("acme", {"mastodon"}))[("mastodon", "admins")] == [again]


async def test_removing_a_disabled_services_admin_account_removes_it_and_its_groups_only(directory):
    mastodon = await admin(directory, "mastodon")
    pixelfed = await admin(directory, "pixelfed")

    removed = await directory.remove_account("acme", "mastodon", "alice", "admin")

    assert removed == 5, "the account, its three groups and the service's unit"
    assert not await directory.bind(mastodon, "right-password")
    assert not await directory.entries.read(directory.tree.unit("acme", "mastodon"))
    assert await directory.bind(pixelfed, "right-password")
    assert await directory.remove_account("acme", "mastodon", "alice", "admin") == 0, "removing twice is harmless"


async def test_an_smtp_relay_account_lives_in_the_operators_mail_unit(directory):
    dn = await directory.put_account("acme", "mastodon", "acme-mastodon", "acme-mastodon", "mastodon@acme.example", "smtp-password", "smtp")

    assert dn == "uid=acme-mastodon,ou=mail,ou=acme,dc=fedi,dc=test"
    assert await directory.bind(dn, "smtp-password")
    assert await directory.remove_account("acme", "mastodon", "acme-mastodon", "smtp") == 1
    assert not await directory.bind(dn, "smtp-password")


async def test_a_sync_plan_adds_changes_and_removes_people_and_their_memberships(directory):
    admin_dn = await admin(directory, "mastodon")
    tree, mapping = directory.tree, {"staff": {"mastodon": "moderators"}, "everyone": {"mastodon": "users"}}

    async def sync(users: dict, groups: dict) -> None:
        await directory.ensure_units("acme", "people")
        snapshot = Snapshot(users=users, groups={k: frozenset(v) for k, v in groups.items()}, group_count=len(groups))
        plan = plan_sync(tree, "acme", snapshot, mapping, await directory.people("acme"), await directory.groups("acme", {"mastodon"}))
        await directory.apply(plan.changes)

    await sync(
        {"bob": {"cn": ["Bob"], "mail": ["bob@acme.example"]}, "carol": {"cn": ["Carol"]}},
        {"staff": {"bob"}, "everyone": {"bob", "carol"}},
    )
    people = await directory.people("acme")
    groups = await directory.groups("acme", {"mastodon"})
    assert set(people) == {"bob", "carol"} and people["bob"]["mail"] == ["bob@acme.example"]
    assert groups[("mastodon", "moderators")] == [tree.person("acme", "bob")]
    assert sorted(groups[("mastodon", "users")]) == sorted([tree.person("acme", "bob"), tree.person("acme", "carol")])

    await sync({"bob": {"cn": ["Robert"], "mail": ["bob@acme.example"]}}, {"staff": set(), "everyone": {"bob"}})
    people = await directory.people("acme")
    groups = await directory.groups("acme", {"mastodon"})
    assert set(people) == {"bob"} and people["bob"]["cn"] == ["Robert"]
    assert groups[("mastodon", "moderators")] == [""], "an empty group lists nobody"
    assert groups[("mastodon", "users")] == [tree.person("acme", "bob")]
    assert groups[("mastodon", "admins")] == [admin_dn], "the service's admin account is left alone"


async def test_removing_an_operator_removes_its_whole_subtree_and_nothing_of_another(directory):
    await admin(directory, "mastodon")
    await directory.put_account("acme", "mastodon", "acme-mastodon", "m", "m@acme.example", "pw", "smtp")
    other = await directory.put_account("globex", "mastodon", "gina", "Gina", "gina@globex.example", "gina-password", "admin")

    removed = await directory.remove_operator("acme")

    assert removed == 9, "acme, people, mail, mastodon, three groups, the admin and the mail account"
    assert not await directory.entries.read(directory.tree.operator("acme"))
    assert await directory.bind(other, "gina-password")


# -- the operator's directory reader ----------------------------------------------------------------


async def reader(directory: Directory, operator: str = "acme", password: str = "reader-password") -> str:
    return await directory.put_account(operator, "_", "reader", f"Directory reader of {operator}'s services", "", password, "reader")


async def test_the_operators_reader_is_a_role_with_a_password_never_a_person_who_could_sign_in(directory):
    dn = await reader(directory)

    assert dn == "cn=reader,ou=acme,dc=fedi,dc=test"
    assert await directory.bind(dn, "reader-password") and not await directory.bind(dn, "wrong-password")
    entry = (await directory.entries.read(dn, "base"))[dn]
    assert sorted(entry["objectClass"]) == ["organizationalRole", "simpleSecurityObject"]
    assert entry["cn"] == ["reader"] and "uid" not in entry and "mail" not in entry
    assert entry["userPassword"][0].startswith("{SSHA}") and "reader-password" not in entry["userPassword"][0]


async def test_asking_again_for_the_reader_keeps_one_entry_with_the_new_password_and_removing_it_removes_it_only(directory):
    admin_dn = await admin(directory, "mastodon")
    first = await reader(directory, password="first-password")
    again = await reader(directory, password="second-password")

    assert first == again and len(await directory.entries.read(directory.tree.operator("acme"), "one")) == 4, (
        "people, mail, mastodon and one reader"
    )
    assert await directory.bind(again, "second-password") and not await directory.bind(again, "first-password")

    assert await directory.remove_account("acme", "_", "reader", "reader") == 1
    assert not await directory.bind(again, "second-password")
    assert await directory.bind(admin_dn, "right-password"), "the admin account stays"
    assert await directory.remove_account("acme", "_", "reader", "reader") == 0, "removing twice is harmless"


async def test_removing_an_operator_removes_its_reader_too(directory):
    dn = await reader(directory)

    assert await directory.remove_operator("acme") == 2, "the reader and ou=acme"
    assert not await directory.bind(dn, "reader-password")


# -- what the reader may do in a real OpenLDAP (the ACL of sandbox/slapd.py, nix/README.md) ---------


def as_reader(server, operator: str, password: str) -> ldap3.Connection:
    return ldap3.Connection(server.url, f"cn=reader,ou={operator},{SUFFIX}", password, auto_bind=True)


def search(conn: ldap3.Connection, base: str, search_filter: str = "(objectClass=*)") -> dict[str, dict]:
    conn.search(base, search_filter, ldap3.SUBTREE, attributes=[ldap3.ALL_ATTRIBUTES, ldap3.ALL_OPERATIONAL_ATTRIBUTES])
    return {entry.entry_dn: entry.entry_attributes_as_dict for entry in conn.entries}


@pytest.fixture
async def two_operators(provider_ldap) -> Directory:
    """acme and globex as identity keeps them: an admin, a relay account, a synced person with a
    password copied from their directory, and a reader each."""
    directory = Directory(LdapEntries(provider_ldap.url, provider_ldap.bind_dn, provider_ldap.password), Tree(SUFFIX))
    for operator in ("acme", "globex"):
        await directory.put_account(operator, "mastodon", "alice", "Alice", f"alice@{operator}.example", f"{operator}-admin-pw", "admin")
        relay = f"{operator}-mastodon"
        await directory.put_account(operator, "mastodon", relay, "relay", f"mastodon@{operator}.example", "relay-pw", "smtp")
        bob = person_entry("bob", {"mail": [f"bob@{operator}.example"], "userPassword": [ssha("bobs-own-password")]})
        await directory.apply([Add(directory.tree.person(operator, "bob"), bob)])
        await reader(directory, operator, f"{operator}-reader-pw")
    await directory.apply([Replace(directory.tree.group("acme", "mastodon", "users"), {"member": [directory.tree.person("acme", "bob")]})])
    return directory


async def test_the_reader_finds_its_operators_people_and_groups_as_a_service_signing_in_does(provider_ldap, two_operators):
    policy = parse_policy(f"directory: {{enabled: true, base_dn: '{SUFFIX}'}}")
    tree, ldap = two_operators.tree, directory_settings("acme", "mastodon", policy.directory)
    conn = as_reader(provider_ldap, "acme", "acme-reader-pw")
    sign_in = lambda typed: f"(&{ldap['userFilter']}(|(uid={typed})(mail={typed})))"  # noqa: E731

    assert list(search(conn, ldap["searchBase"], sign_in("bob"))) == [tree.person("acme", "bob")]
    assert list(search(conn, ldap["searchBase"], sign_in("alice@acme.example"))) == [tree.admin("acme", "mastodon", "alice")]
    member_of = search(conn, ldap["groupBase"], f"(member={tree.person('acme', 'bob')})")
    assert list(member_of) == [ldap["groups"]["users"]]
    assert set(search(conn, ldap["groupBase"], "(objectClass=groupOfNames)")) == set(ldap["groups"].values())


async def test_the_reader_cannot_see_another_operators_subtree_nor_anything_outside_its_own(provider_ldap, two_operators):
    conn = as_reader(provider_ldap, "acme", "acme-reader-pw")

    assert search(conn, two_operators.tree.operator("globex")) == {}
    assert search(conn, two_operators.tree.person("globex", "bob")) == {}
    assert search(conn, SUFFIX) == {}, "it searches from its operator's subtree, not from the suffix above it"
    assert search(conn, two_operators.tree.operator("acme")), "its own it does see"
    anonymous = ldap3.Connection(provider_ldap.url, auto_bind=True)
    assert search(anonymous, SUFFIX) == {}, "nobody reads the directory without binding"


async def test_the_reader_never_reads_a_password(provider_ldap, two_operators):
    conn = as_reader(provider_ldap, "acme", "acme-reader-pw")

    everything = search(conn, two_operators.tree.operator("acme"))
    assert two_operators.tree.person("acme", "bob") in everything
    assert [dn for dn, attributes in everything.items() if "userPassword" in attributes] == []
    assert search(conn, two_operators.tree.operator("acme"), "(userPassword=*)") == {}
    assert await two_operators.bind(two_operators.tree.person("acme", "bob"), "bobs-own-password"), "binding still checks it"


async def test_the_reader_cannot_change_anything_not_even_its_own_password(provider_ldap, two_operators):
    tree = two_operators.tree
    conn = as_reader(provider_ldap, "acme", "acme-reader-pw")
    bob, reader_dn = tree.person("acme", "bob"), tree.reader("acme")

    attempts = {
        "modify a person": lambda: conn.modify(bob, {"mail": [(ldap3.MODIFY_REPLACE, ["mallory@evil.example"])]}),
        "join a group": lambda: conn.modify(tree.group("acme", "mastodon", "admins"), {"member": [(ldap3.MODIFY_ADD, [bob])]}),
        "add a person": lambda: conn.add(tree.person("acme", "mallory"), ["inetOrgPerson"], {"cn": "M", "sn": "M", "uid": "mallory"}),
        "delete a person": lambda: conn.delete(bob),
        "set its password": lambda: conn.modify(reader_dn, {"userPassword": [(ldap3.MODIFY_REPLACE, ["chosen"])]}),
        "change its password": lambda: conn.extend.standard.modify_password(reader_dn, new_password="chosen"),
    }
    for what, attempt in attempts.items():
        assert not attempt() and conn.result["description"] == "insufficientAccessRights", (what, conn.result)

    assert search(as_reader(provider_ldap, "acme", "acme-reader-pw"), bob)[bob]["mail"] == ["bob@acme.example"]


async def test_the_providers_relay_looks_a_login_up_checks_its_password_by_bind_and_sees_nothing_else(provider_ldap, two_operators):
    relay_dn = f"{RELAY},{SUFFIX}"
    await two_operators.apply([Add(relay_dn, {"objectClass": ["organizationalRole", "simpleSecurityObject"], "cn": ["relay"],
                                              "userPassword": [ssha("relay-lookup-pw")]})])
    relay = ldap3.Connection(provider_ldap.url, relay_dn, "relay-lookup-pw", auto_bind=True)
    login = lambda name: f"(&(uid={name})(employeeType=smtp))"  # noqa: E731  (saslauthd's ldap_filter, nix/README.md)

    found = search(relay, SUFFIX, login("acme-mastodon"))

    assert list(found) == [two_operators.tree.mail_account("acme", "acme-mastodon")]
    assert "userPassword" not in found[two_operators.tree.mail_account("acme", "acme-mastodon")]
    assert await two_operators.bind(next(iter(found)), "relay-pw") and not await two_operators.bind(next(iter(found)), "wrong")
    assert list(search(relay, SUFFIX, login("globex-mastodon"))) == [two_operators.tree.mail_account("globex", "globex-mastodon")]
    assert search(relay, SUFFIX, "(uid=alice)") == {} and search(relay, SUFFIX, "(uid=bob)") == {}, "no admin, no person"
    assert search(relay, two_operators.tree.operator("acme")) == {}, "nothing of an operator's subtree but its relay logins"


def test_the_documented_production_acl_is_the_one_the_tests_run_with():
    documented = (ROOT / "nix" / "README.md").read_text()

    assert access_rules(SUFFIX) in documented
