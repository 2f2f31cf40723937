"""The directory port: a small LDAP-shaped tree of entries, with one real adapter (ldap3 against
OpenLDAP) and one kept in this service's database (the embedded default). Both pass the same tests."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Attributes = dict[str, list[str]]
Scope = Literal["base", "one", "sub"]


@dataclass(frozen=True)
class Add:
    dn: str
    attributes: Attributes


@dataclass(frozen=True)
class Replace:
    """Replaces the listed attributes; an empty list removes that attribute."""

    dn: str
    attributes: Attributes


@dataclass(frozen=True)
class Delete:
    dn: str


Change = Add | Replace | Delete


class DirectoryError(Exception):
    """The directory refused a change."""


class EntryExists(DirectoryError):
    pass


class DirectoryUnavailable(DirectoryError):
    """The directory cannot be reached now; worth retrying later."""


class Entries(Protocol):
    async def read(self, base: str, scope: Scope = "sub") -> dict[str, Attributes]:
        """Entries at or under `base` by DN (as stored); empty when `base` does not exist."""

    async def write(self, changes: Sequence[Change]) -> None:
        """Applies the changes in order. Adding an existing entry raises EntryExists; deleting a
        missing one is fine. Consecutive changes to siblings may be applied concurrently."""

    async def set_password(self, dn: str, password: str) -> None:
        """Stores a hash of `password` in the entry's userPassword (the directory picks the scheme)."""

    async def bind(self, dn: str, password: str) -> bool:
        """Whether `password` is that entry's password."""
