"""The directory port, one suite for both adapters: a real OpenLDAP slapd (ldap3) and the embedded
directory in identity's database. Accounts are valid by bind, removed ones are gone, syncs apply."""


import pytest

from runtime.db import Database
from runtime.service import migrations_of
from sandbox.slapd import Slapd, missing
from services.identity import bootstrap
from services.identity.adapters.db_directory import DbEntries
from services.identity.adapters.ldap import LdapEntries
from services.identity.directory import Directory
from services.identity.domain.sync import Snapshot, plan_sync
from services.identity.domain.tree import Tree
from tests.conftest import require

pytestmark = pytest.mark.integration
SUFFIX = "dc=fedi,dc=test"


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
