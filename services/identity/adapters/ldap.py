"""The directory on a real LDAP server (OpenLDAP in production, a throwaway slapd in tests), via ldap3.
ldap3 is synchronous: every call runs in a worker thread on its own connection. Changes to sibling
entries are pipelined on one connection, which makes bulk syncs several times faster."""

import asyncio
import math
from collections.abc import Sequence
from itertools import groupby

import ldap3
from ldap3.core import exceptions as ldap_errors

from ..domain.entries import Add, Attributes, Change, Delete, DirectoryError, DirectoryUnavailable, EntryExists, Replace, Scope
from ..domain.tree import parent

SCOPES = {"base": ldap3.BASE, "one": ldap3.LEVEL, "sub": ldap3.SUBTREE}
NO_SUCH_OBJECT, INVALID_CREDENTIALS, ALREADY_EXISTS = 32, 49, 68
TRANSIENT = {51, 52, 53, 80}  # busy, unavailable, unwilling to perform, other
UNREACHABLE = (ldap_errors.LDAPCommunicationError, ldap_errors.LDAPMaximumRetriesError, ldap_errors.LDAPStartTLSError)
PIPELINE = 256


def connection(url: str, user: str, password: str, timeout: float, asynchronous: bool = False) -> ldap3.Connection:
    """A bound connection, or DirectoryUnavailable / DirectoryError("bind refused")."""
    server = ldap3.Server(url, connect_timeout=timeout, get_info=ldap3.NONE)
    # ldap3's ASYNC receiver thread spins for ever on its closed socket once unbound when it has a
    # receive timeout; without one it ends. get_response still bounds each wait.
    strategy, receive_timeout = (ldap3.ASYNC, None) if asynchronous else (ldap3.SYNC, max(1, math.ceil(timeout)))
    conn = ldap3.Connection(server, user, password, client_strategy=strategy, receive_timeout=receive_timeout, raise_exceptions=False)
    try:
        bound = conn.bind()
    except UNREACHABLE as exc:
        raise DirectoryUnavailable(f"cannot reach {url}: {exc}") from None
    if not bound:
        raise DirectoryError(f"{url} refused the bind of {user}: {conn.result.get('description')}")
    return conn


def read_entries(conn: ldap3.Connection, base: str, scope: Scope, search_filter: str = "(objectClass=*)",
                 attributes=ldap3.ALL_ATTRIBUTES) -> dict[str, Attributes]:
    found = conn.extend.standard.paged_search(
        base, search_filter, SCOPES[scope], attributes=attributes, paged_size=1000, generator=False
    )
    result = conn.result.get("result", 0)
    if result == NO_SUCH_OBJECT:
        return {}
    if result not in (0, None):
        raise DirectoryError(f"search of {base} failed: {conn.result.get('description')} {conn.result.get('message')}".strip())
    return {
        entry["dn"]: {name: [_text(value) for value in values] for name, values in entry["raw_attributes"].items()}
        for entry in found or ()
        if entry.get("type") == "searchResEntry"
    }


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


class LdapEntries:
    def __init__(self, url: str, bind_dn: str, password: str, timeout: float = 5.0) -> None:
        self.url = url
        self.bind_dn = bind_dn
        self._password = password
        self.timeout = timeout

    def _connect(self, asynchronous: bool = False) -> ldap3.Connection:
        return connection(self.url, self.bind_dn, self._password, self.timeout, asynchronous)

    async def read(self, base: str, scope: Scope = "sub") -> dict[str, Attributes]:
        return await asyncio.to_thread(self._read, base, scope)

    def _read(self, base: str, scope: Scope) -> dict[str, Attributes]:
        conn = self._connect()
        try:
            return read_entries(conn, base, scope)
        except UNREACHABLE as exc:
            raise DirectoryUnavailable(f"lost {self.url}: {exc}") from None
        finally:
            conn.unbind()

    async def write(self, changes: Sequence[Change]) -> None:
        if changes:
            await asyncio.to_thread(self._write, list(changes))

    def _write(self, changes: list[Change]) -> None:
        conn = self._connect(asynchronous=True)
        try:
            # Siblings never depend on each other, so a run of them can be in flight at once.
            for _, run in groupby(changes, key=lambda change: parent(change.dn).lower()):
                run = list(run)
                for start in range(0, len(run), PIPELINE):
                    window = run[start : start + PIPELINE]
                    sent = [(self._send(conn, change), change) for change in window]
                    for message_id, change in sent:
                        _, result = conn.get_response(message_id)
                        self._check(result, change)
        except UNREACHABLE as exc:
            raise DirectoryUnavailable(f"lost {self.url}: {exc}") from None
        finally:
            conn.unbind()

    @staticmethod
    def _send(conn: ldap3.Connection, change: Change) -> int:
        if isinstance(change, Add):
            classes = change.attributes.get("objectClass", [])
            others = {name: values for name, values in change.attributes.items() if name != "objectClass"}
            return conn.add(change.dn, classes, others)
        if isinstance(change, Replace):
            return conn.modify(change.dn, {name: [(ldap3.MODIFY_REPLACE, values)] for name, values in change.attributes.items()})
        return conn.delete(change.dn)

    def _check(self, result: dict, change: Change) -> None:
        code = result["result"]
        if code == 0 or (isinstance(change, Delete) and code == NO_SUCH_OBJECT):
            return
        reason = f"{type(change).__name__.lower()} {change.dn}: {result['description']} {result.get('message', '')}".strip()
        if code == ALREADY_EXISTS:
            raise EntryExists(reason)
        if code in TRANSIENT:
            raise DirectoryUnavailable(reason)
        raise DirectoryError(reason)

    async def set_password(self, dn: str, password: str) -> None:
        await asyncio.to_thread(self._set_password, dn, password)

    def _set_password(self, dn: str, password: str) -> None:
        conn = self._connect()
        try:
            if not conn.extend.standard.modify_password(dn, new_password=password):
                raise DirectoryError(f"password change of {dn} refused: {conn.result.get('description')}")
        except UNREACHABLE as exc:
            raise DirectoryUnavailable(f"lost {self.url}: {exc}") from None
        finally:
            conn.unbind()

    async def bind(self, dn: str, password: str) -> bool:
        return await asyncio.to_thread(self._bind, dn, password)

    def _bind(self, dn: str, password: str) -> bool:
        if not password:
            return False  # an empty password would be an unauthenticated bind, which "succeeds"
        try:
            conn = connection(self.url, dn, password, self.timeout)
        except DirectoryUnavailable:
            raise
        except DirectoryError:
            return False
        conn.unbind()
        return True
