"""An operator's subtree in the provider's directory, in domain terms, on top of the Entries port."""

from collections.abc import Sequence
from typing import Literal

from .domain.entries import Add, Attributes, Change, Delete, Entries, Replace
from .domain.passwords import ssha
from .domain.tree import MAIL, NO_MEMBER, PEOPLE, ROLES, Role, Tree, account_entry, group_entry, parent, reader_entry, same, unit_entry

Purpose = Literal["admin", "smtp", "reader"]
KEPT_ON_UPDATE = ("objectClass", "userPassword")
"""What bringing an existing account up to date leaves alone (its password is set on its own)."""


def depth(dn: str) -> int:
    count = 0
    while dn:
        dn, count = parent(dn), count + 1
    return count


class Directory:
    def __init__(self, entries: Entries, tree: Tree) -> None:
        self.entries = entries
        self.tree = tree

    # -- structure ------------------------------------------------------------------------------

    async def ensure_units(self, operator: str, *names: str) -> None:
        top = self.tree.operator(operator)
        existing = {dn.lower() for dn in await self.entries.read(top, "one")}
        changes: list[Change] = []
        if not await self.entries.read(top, "base"):
            changes.append(Add(top, unit_entry(operator)))
        for name in names:
            dn = self.tree.unit(operator, name)
            if dn.lower() not in existing:
                changes.append(Add(dn, unit_entry(name)))
        await self.entries.write(changes)

    async def ensure_service(self, operator: str, service: str) -> None:
        await self.ensure_units(operator, PEOPLE, MAIL, service)
        groups = {dn.lower() for dn in await self.entries.read(self.tree.unit(operator, service), "one")}
        await self.entries.write(
            [
                Add(self.tree.group(operator, service, role), group_entry(role, []))
                for role in ROLES
                if self.tree.group(operator, service, role).lower() not in groups
            ]
        )

    # -- accounts -------------------------------------------------------------------------------

    def account_dn(self, operator: str, service: str, username: str, purpose: Purpose) -> str:
        if purpose == "admin":
            return self.tree.admin(operator, service, username)
        if purpose == "reader":
            return self.tree.reader(operator)
        return self.tree.mail_account(operator, username)

    async def put_account(
        self, operator: str, service: str, username: str, display_name: str, email: str, password: str, purpose: Purpose
    ) -> str:
        """Creates (or brings up to date) the account and sets its password; returns its DN."""
        if purpose == "admin":
            await self.ensure_service(operator, service)
        elif purpose == "smtp":
            await self.ensure_units(operator, PEOPLE, MAIL)
        else:
            await self.ensure_units(operator)
        dn = self.account_dn(operator, service, username, purpose)
        entry = reader_entry(display_name, ssha(password)) if purpose == "reader" else account_entry(username, display_name, email, purpose)
        if await self.entries.read(dn, "base"):
            await self.entries.write([Replace(dn, {k: v for k, v in entry.items() if k not in KEPT_ON_UPDATE})])
        else:
            await self.entries.write([Add(dn, entry)])
        await self.entries.set_password(dn, password)
        if purpose == "admin":
            await self._set_membership(self.tree.group(operator, service, "admins"), dn, True)
        return dn

    async def remove_account(self, operator: str, service: str, username: str, purpose: Purpose) -> int:
        """Removes the account; an admin account takes its service's groups with it when it was the
        last one (the service is no longer deployed). Returns how many entries went."""
        dn = self.account_dn(operator, service, username, purpose)
        if purpose != "admin":
            existed = bool(await self.entries.read(dn, "base"))
            await self.entries.write([Delete(dn)])
            return int(existed)
        unit = self.tree.unit(operator, service)
        inside = await self.entries.read(unit, "one")
        others = [other for other, attrs in inside.items() if "uid" in attrs and not same(other, dn)]
        if not others:
            return await self.remove_subtree(unit)
        existed = any(same(other, dn) for other in inside)
        await self._set_membership(self.tree.group(operator, service, "admins"), dn, False)
        await self.entries.write([Delete(dn)])
        return int(existed)

    async def bind(self, dn: str, password: str) -> bool:
        return await self.entries.bind(dn, password)

    # -- people and groups (sync) ---------------------------------------------------------------

    async def people(self, operator: str) -> dict[str, Attributes]:
        found = await self.entries.read(self.tree.unit(operator, PEOPLE), "one")
        return {attrs["uid"][0]: attrs for attrs in found.values() if attrs.get("uid")}

    async def groups(self, operator: str, services: set[str]) -> dict[tuple[str, Role], list[str]]:
        """The groups of these services -> their member DNs."""
        groups: dict[tuple[str, Role], list[str]] = {}
        for service in sorted(services):
            found = {dn.lower(): attrs for dn, attrs in (await self.entries.read(self.tree.unit(operator, service), "one")).items()}
            for role in ROLES:
                attrs = found.get(self.tree.group(operator, service, role).lower())
                if attrs is not None:
                    groups[(service, role)] = attrs.get("member", [])
        return groups

    async def apply(self, changes: Sequence[Change]) -> None:
        await self.entries.write(changes)

    # -- removal --------------------------------------------------------------------------------

    async def remove_subtree(self, dn: str) -> int:
        found = await self.entries.read(dn, "sub")
        # Leaves first; siblings stay next to each other so they can go together.
        ordered = sorted(found, key=lambda entry: (-depth(entry), parent(entry).lower()))
        await self.entries.write([Delete(entry) for entry in ordered])
        return len(ordered)

    async def remove_operator(self, operator: str) -> int:
        return await self.remove_subtree(self.tree.operator(operator))

    async def _set_membership(self, group: str, member: str, present: bool) -> None:
        found = await self.entries.read(group, "base")
        members = next(iter(found.values()), {}).get("member", [])
        others = [dn for dn in members if not same(dn, member) and dn != NO_MEMBER]
        wanted = others + [member] if present else others
        if sorted(wanted or [NO_MEMBER]) != sorted(members):
            await self.entries.write([Replace(group, {"member": wanted or [NO_MEMBER]})])
