"""Reading an operator's own LDAP directory (read-only), with the errors an operator can act on."""

import ldap3
from ldap3.core import exceptions as ldap_errors

from contracts.directory import DirectoryParameters

from ..domain.entries import DirectoryError, DirectoryUnavailable
from ..domain.sync import SYNCED, DirectoryProblem, Snapshot
from .ldap import connection, read_entries

MEMBER_ATTRIBUTES = ("member", "uniqueMember", "memberUid")
CANONICAL = {name.lower(): name for name in (*SYNCED, *MEMBER_ATTRIBUTES, "cn")}


def fetch_snapshot(parameters: DirectoryParameters, password: str, timeout: float = 5.0) -> Snapshot:
    """Their users and groups, or DirectoryProblem saying what to fix. Blocking (run it in a thread)."""
    url, base = parameters.url, parameters.base_dn
    try:
        conn = connection(url, parameters.bind_dn, password, timeout)
    except DirectoryUnavailable as exc:  # it says "cannot reach <url>: <why>"
        raise DirectoryProblem("unreachable", f"{exc}; check the address and that the server is up") from None
    except DirectoryError:
        raise DirectoryProblem("bad_credentials", f"{url} refused the bind DN {parameters.bind_dn} with that password") from None
    except (ldap_errors.LDAPInvalidServerError, ldap_errors.LDAPInvalidPortError, ldap_errors.LDAPInvalidSchemeError) as exc:
        raise DirectoryProblem("unreachable", f"{url} is not a usable LDAP URL ({exc})") from None
    try:
        try:
            found = read_entries(conn, base, "base", attributes=[])
        except DirectoryError:
            found = {}
        if not found:
            raise DirectoryProblem("no_base", f"the base DN {base} does not exist on {url}")
        uid = parameters.uid_attribute
        users = read_entries(conn, base, "sub", parameters.user_filter, attributes=[uid, *SYNCED])
        groups = read_entries(conn, base, "sub", parameters.group_filter, attributes=["cn", *MEMBER_ATTRIBUTES])
    except ldap_errors.LDAPInvalidFilterError as exc:
        raise DirectoryProblem("bad_filter", f"a filter is not valid LDAP: {exc}") from None
    except ldap_errors.LDAPCommunicationError as exc:
        raise DirectoryProblem("unreachable", f"lost the connection to {url}: {exc}") from None
    except DirectoryError as exc:
        raise DirectoryProblem("bad_filter", f"{url} refused the search: {exc}") from None
    finally:
        conn.unbind()
    if not users:
        raise DirectoryProblem("empty", f"no users match {parameters.user_filter} under {base}: nothing to sync")
    return snapshot_of(users, groups, uid)


def snapshot_of(users: dict, groups: dict, uid_attribute: str) -> Snapshot:
    by_dn: dict[str, str] = {}
    people: dict[str, dict[str, list[str]]] = {}
    for dn, attributes in users.items():
        found = {CANONICAL.get(name.lower(), name): values for name, values in attributes.items()}
        login = next((values[0] for name, values in attributes.items() if name.lower() == uid_attribute.lower() and values), None)
        if login:
            by_dn[dn.lower()] = login
            people[login] = {name: sorted(found[name]) for name in SYNCED if found.get(name)}
    members: dict[str, frozenset[str]] = {}
    for dn, attributes in groups.items():
        found = {CANONICAL.get(name.lower(), name): values for name, values in attributes.items()}
        logins = {by_dn[value.lower()] for name in ("member", "uniqueMember") for value in found.get(name, []) if value.lower() in by_dn}
        logins |= {value for value in found.get("memberUid", []) if value in people}
        for key in {dn.lower(), *(cn.lower() for cn in found.get("cn", []))}:
            members[key] = frozenset(logins)
    if not people:
        raise DirectoryProblem("empty", f"no user has a {uid_attribute} attribute: nothing to sync")
    return Snapshot(users=people, groups=members, group_count=len(groups))
