"""What a sync of an operator's own directory changes when a mapped group has gone on their side: the
group counts as one with no members, everything else is still synced, and the report says which
group was not found and who lost which role. Connecting with such a mapping is refused."""

import pytest

from services.identity.domain import passwords
from services.identity.domain.entries import Delete, Replace
from services.identity.domain.sync import DirectoryProblem, Snapshot, check_mapping, person_entry, plan_sync
from services.identity.domain.tree import NO_MEMBER, Tree

TREE = Tree("dc=fedi,dc=test")
MAPPING = {"it": {"mastodon": "admins", "pixelfed": "moderators"}, "everyone": {"mastodon": "users"}}
ADMIN = TREE.admin("acme", "mastodon", "alice")


def person(uid: str) -> str:
    return TREE.person("acme", uid)


def snapshot(users: set[str], **groups: set[str]) -> Snapshot:
    return Snapshot(users={uid: {"cn": [uid.title()]} for uid in users}, groups={k: frozenset(v) for k, v in groups.items()},
                    group_count=len(groups))


def synced(users: set[str], mapping: dict = MAPPING, **groups: set[str]) -> tuple[dict, dict]:
    """Our side after a sync of these users and groups: people, and mastodon's and pixelfed's groups."""
    people = {uid: person_entry(uid, {"cn": [uid.title()]}) for uid in users}
    held = {(service, role): set() for service in ("mastodon", "pixelfed") for role in ("admins", "moderators", "users")}
    for group, targets in mapping.items():
        for key in targets.items():
            held[key] |= {person(uid) for uid in groups.get(group, ())}
    roles = {key: sorted(dns) or [NO_MEMBER] for key, dns in held.items()}
    roles[("mastodon", "admins")] = [ADMIN, *sorted(held[("mastodon", "admins")])]
    return people, roles


def test_connecting_with_a_mapping_that_names_a_group_they_do_not_have_is_refused():
    with pytest.raises(DirectoryProblem) as refused:
        check_mapping(snapshot({"bob"}, everyone={"bob"}), MAPPING)

    assert refused.value.kind == "unknown_group" and refused.value.reason.endswith(": it")


def test_a_mapped_group_gone_on_their_side_counts_as_empty_and_everything_else_is_still_synced():
    people, groups = synced({"bob", "carol", "erin"}, it={"bob", "carol"}, everyone={"bob", "carol", "erin"})

    plan = plan_sync(TREE, "acme", snapshot({"bob", "carol", "dave"}, everyone={"bob", "dave"}), MAPPING, people, groups)

    assert (plan.users_added, plan.users_removed) == (1, 1)
    assert Delete(person("erin")) in plan.changes, "a user gone on their side still goes"
    assert Replace(TREE.group("acme", "mastodon", "admins"), {"member": [ADMIN]}) in plan.changes, "the service's admin account stays"
    assert Replace(TREE.group("acme", "pixelfed", "moderators"), {"member": [NO_MEMBER]}) in plan.changes
    assert Replace(TREE.group("acme", "mastodon", "users"), {"member": [person("bob"), person("dave")]}) in plan.changes
    [missing] = plan.missing_groups
    assert missing.group == "it" and missing.roles_lost == {"mastodon": {"admins": 2}, "pixelfed": {"moderators": 2}}
    assert "'it' was not found" in missing.message
    assert "2 people lost the admins role in mastodon, 2 people lost the moderators role in pixelfed" in missing.message


def test_only_those_who_lost_the_role_are_counted_and_a_group_still_missing_later_is_reported_again():
    mapping = MAPPING | {"staff": {"mastodon": "admins"}}
    theirs = snapshot({"bob", "carol"}, everyone=set(), staff={"bob"})

    first = plan_sync(TREE, "acme", theirs, mapping, *synced({"bob", "carol", "erin"}, mapping, it={"bob", "carol", "erin"}, staff={"bob"}))
    later = plan_sync(TREE, "acme", theirs, mapping, *synced({"bob", "carol"}, mapping, staff={"bob"}))

    [missing] = first.missing_groups
    assert missing.roles_lost == {"mastodon": {"admins": 1}, "pixelfed": {"moderators": 2}}, (
        "bob keeps admins through staff; erin left altogether, which is no lost role"
    )
    [again] = later.missing_groups
    assert again.roles_lost == {"mastodon": {"admins": 0}, "pixelfed": {"moderators": 0}}
    assert "nobody lost a role this time" in again.message


def test_a_group_missing_for_services_not_deployed_takes_no_role_away():
    people, groups = synced({"bob"}, everyone={"bob"})
    only_mastodon = {key: members for key, members in groups.items() if key[0] == "mastodon"}

    plan = plan_sync(TREE, "acme", snapshot({"bob"}, everyone={"bob"}),
                     {"it": {"pixelfed": "admins"}, "everyone": {"mastodon": "users"}}, people, only_mastodon)

    assert plan.changes == [] and [(m.group, m.roles_lost) for m in plan.missing_groups] == [("it", {})]


def test_a_password_their_directory_keeps_in_clear_is_kept_salted_and_hashed_and_not_rewritten_at_every_sync():
    clear = person_entry("bob", {"cn": ["Bob"], "userPassword": ["bobs-secret"]})
    labelled = person_entry("bob", {"cn": ["Bob"], "userPassword": ["{CLEARTEXT}bobs-secret"]})
    already_hashed = person_entry("bob", {"cn": ["Bob"], "userPassword": ["{SSHA}c29tZWhhc2hhbmRzYWx0"]})

    [stored] = clear["userPassword"]
    assert stored.startswith("{SSHA}") and "bobs-secret" not in stored
    assert passwords.verify("bobs-secret", stored) and not passwords.verify("not-bobs", stored)
    assert labelled["userPassword"] == [stored], "the same password hashes the same"
    assert already_hashed["userPassword"] == ["{SSHA}c29tZWhhc2hhbmRzYWx0"], "a hash is copied as it is"
    assert person_entry("carol", {"cn": ["Carol"], "userPassword": ["bobs-secret"]})["userPassword"] != [stored], "salted per user"

    again = plan_sync(TREE, "acme", Snapshot(users={"bob": {"cn": ["Bob"], "userPassword": ["bobs-secret"]}}, groups={}, group_count=0),
                      {}, {"bob": clear}, {})
    assert again.changes == [] and again.users_updated == 0
