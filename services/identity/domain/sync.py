"""Syncing an operator's own directory into its subtree: what to add, change and remove (pure)."""

from dataclasses import dataclass, field

from contracts.directory import DirectoryProblemKind, MissingGroup, Role

from . import passwords
from .entries import Add, Attributes, Change, Delete, Replace
from .tree import NO_MEMBER, Tree

SYNCED = ("cn", "sn", "givenName", "displayName", "mail", "userPassword")
"""What is copied from their user entries (userPassword only where their directory lets us read it)."""


class DirectoryProblem(Exception):
    """The operator's directory cannot be synced as configured; nothing is changed."""

    def __init__(self, kind: DirectoryProblemKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Snapshot:
    """What their directory holds: users by login name, and each group's members (by login name)
    under both its cn and its DN, in lower case."""

    users: dict[str, Attributes]
    groups: dict[str, frozenset[str]]
    group_count: int


@dataclass
class SyncPlan:
    changes: list[Change] = field(default_factory=list)
    users_added: int = 0
    users_updated: int = 0
    users_removed: int = 0
    memberships_added: int = 0
    memberships_removed: int = 0
    missing_groups: list[MissingGroup] = field(default_factory=list)


def missing_groups(snapshot: Snapshot, mapping: dict[str, dict[str, Role]]) -> list[str]:
    return sorted(name for name in mapping if name.lower() not in snapshot.groups)


def check_mapping(snapshot: Snapshot, mapping: dict[str, dict[str, Role]]) -> None:
    """On check and connect, a mapping naming a group they do not have is refused; a later sync
    counts a mapped group that has gone as a group with no members instead (see `plan_sync`)."""
    missing = missing_groups(snapshot, mapping)
    if missing:
        raise DirectoryProblem("unknown_group", f"the mapping names groups their directory does not have: {', '.join(missing)}")


def person_entry(uid: str, attributes: Attributes) -> Attributes:
    cn = attributes.get("cn") or [uid]
    entry = {"objectClass": ["inetOrgPerson"], "uid": [uid], "cn": cn, "sn": attributes.get("sn") or cn[:1]}
    entry |= {name: attributes[name] for name in SYNCED if attributes.get(name) and name not in entry}
    if "userPassword" in entry:  # never kept in clear, whatever their directory does
        entry["userPassword"] = [passwords.hashed(uid, value) for value in entry["userPassword"]]
    return entry | {"employeeType": ["synced"]}


def plan_sync(
    tree: Tree,
    operator: str,
    snapshot: Snapshot,
    mapping: dict[str, dict[str, Role]],
    current_people: dict[str, Attributes],
    current_groups: dict[tuple[str, Role], list[str]],
) -> SyncPlan:
    """`current_people`: uid -> entry under ou=people; `current_groups`: the groups of the deployed
    services -> their member DNs. Memberships are synced only for those services."""
    plan = SyncPlan()
    for uid, attributes in snapshot.users.items():
        wanted = person_entry(uid, attributes)
        have = current_people.get(uid)
        if have is None:
            plan.changes.append(Add(tree.person(operator, uid), wanted))
            plan.users_added += 1
            continue
        differences = {
            name: wanted.get(name, [])
            for name in ("cn", "sn", *SYNCED)
            if sorted(wanted.get(name, [])) != sorted(have.get(name, []))
        }
        if differences:
            plan.changes.append(Replace(tree.person(operator, uid), differences))
            plan.users_updated += 1

    desired: dict[tuple[str, Role], set[str]] = {key: set() for key in current_groups}
    for group, targets in mapping.items():
        members = snapshot.groups.get(group.lower(), frozenset())
        for service, role in targets.items():
            if (service, role) in desired:
                desired[(service, role)] |= members & snapshot.users.keys()
    staying = {tree.person(operator, uid).lower() for uid in snapshot.users}
    lost: dict[tuple[str, Role], int] = {}
    for (service, role), members in current_groups.items():
        people = {dn.lower() for dn in members if tree.is_person(operator, dn)}
        wanted_people = {tree.person(operator, uid).lower(): tree.person(operator, uid) for uid in desired[(service, role)]}
        added, removed = wanted_people.keys() - people, people - wanted_people.keys()
        lost[(service, role)] = len(removed & staying)
        if added or removed:
            others = [dn for dn in members if not tree.is_person(operator, dn) and dn != NO_MEMBER]
            new_members = others + [wanted_people[key] for key in sorted(wanted_people)]
            plan.changes.append(Replace(tree.group(operator, service, role), {"member": new_members or [NO_MEMBER]}))
            plan.memberships_added += len(added)
            plan.memberships_removed += len(removed)

    for uid in current_people.keys() - snapshot.users.keys():
        plan.changes.append(Delete(tree.person(operator, uid)))
        plan.users_removed += 1
    plan.missing_groups = [
        missing_group(name, {service: {role: lost[(service, role)]} for service, role in mapping[name].items() if (service, role) in lost})
        for name in missing_groups(snapshot, mapping)
    ]
    return plan


def missing_group(name: str, roles_lost: dict[str, dict[Role, int]]) -> MissingGroup:
    """`roles_lost`: per role the group gave, the people still synced who lost it in this sync (whoever
    another mapped group still gives it to keeps it, and is not counted)."""
    losses = [
        f"{count} {'person' if count == 1 else 'people'} lost the {role} role in {service}"
        for service, roles in roles_lost.items() for role, count in roles.items() if count
    ]
    return MissingGroup(group=name, roles_lost=roles_lost, message=(
        f"the mapped group '{name}' was not found in the directory, so it counted as a group with no members: "
        f"{', '.join(losses) if losses else 'nobody lost a role this time'}. Create the group again or take it out of the mapping."
    ))

