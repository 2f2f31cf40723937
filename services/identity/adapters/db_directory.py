"""The embedded directory: entries in this service's database, changed in the caller's transaction.
It keeps LDAP's rules that callers rely on (case-insensitive DNs, no duplicate entries, salted hashes
in userPassword, bind by DN and password)."""

from collections.abc import Sequence

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import passwords
from ..domain.entries import Add, Attributes, Change, Delete, DirectoryError, EntryExists, Replace, Scope
from ..domain.tree import parent
from .store import DirectoryEntry

ENTRIES = DirectoryEntry.__table__


def chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DbEntries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def read(self, base: str, scope: Scope = "sub") -> dict[str, Attributes]:
        key = base.lower()
        where = {
            "base": ENTRIES.c.dn_key == key,
            "one": ENTRIES.c.parent_key == key,
            "sub": or_(ENTRIES.c.dn_key == key, ENTRIES.c.dn_key.endswith("," + key, autoescape=True)),
        }[scope]
        rows = (await self.session.execute(select(ENTRIES.c.dn, ENTRIES.c.attributes).where(where))).all()
        return {row.dn: {name: list(values) for name, values in row.attributes.items()} for row in rows}

    async def write(self, changes: Sequence[Change]) -> None:
        adds: list[Add] = []
        for change in changes:
            if isinstance(change, Add):
                adds.append(change)
                continue
            await self._add(adds)
            adds = []
            if isinstance(change, Replace):
                await self._replace(change)
            elif isinstance(change, Delete):
                await self.session.execute(delete(ENTRIES).where(ENTRIES.c.dn_key == change.dn.lower()))
        await self._add(adds)

    async def set_password(self, dn: str, password: str) -> None:
        await self._replace(Replace(dn, {"userPassword": [passwords.ssha(password)]}))

    async def bind(self, dn: str, password: str) -> bool:
        if not password:
            return False
        found = await self.read(dn, "base")
        values = next(iter(found.values()), {}).get("userPassword", [])
        return any(passwords.verify(password, value) for value in values)

    async def _add(self, adds: list[Add]) -> None:
        for chunk in chunks(adds, 500):
            keys = [add.dn.lower() for add in chunk]
            existing = (await self.session.execute(select(ENTRIES.c.dn).where(ENTRIES.c.dn_key.in_(keys)))).scalars().first()
            if existing is not None or len(set(keys)) < len(keys):
                raise EntryExists(f"entry already exists: {existing}")
            await self.session.execute(
                insert(ENTRIES),
                [
                    {"dn_key": add.dn.lower(), "dn": add.dn, "parent_key": parent(add.dn).lower(), "attributes": add.attributes}
                    for add in chunk
                ],
            )

    async def _replace(self, change: Replace) -> None:
        key = change.dn.lower()
        row = (await self.session.execute(select(ENTRIES.c.attributes).where(ENTRIES.c.dn_key == key))).first()
        if row is None:
            raise DirectoryError(f"no such entry: {change.dn}")
        attributes = dict(row.attributes)
        for name, values in change.attributes.items():
            if values:
                attributes[name] = list(values)
            else:
                attributes.pop(name, None)
        await self.session.execute(update(ENTRIES).where(ENTRIES.c.dn_key == key).values(attributes=attributes))
