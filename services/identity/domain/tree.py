"""Where everything lives in the provider's directory: one subtree per operator.

    ou=<operator>,<suffix>
      cn=reader                 the read-only account the operator's services bind as
      ou=people                 users synced from the operator's own directory
      ou=mail                   SMTP relay accounts, one per service that sends mail
      ou=<service>              per deployed service:
        uid=<username>            its admin account
        cn=admins, cn=moderators, cn=users   groupOfNames
"""

from dataclasses import dataclass
from typing import get_args

from ldap3.utils.dn import escape_rdn

from contracts.directory import Role

ROLES: tuple[Role, ...] = get_args(Role)
PEOPLE, MAIL, READER = "people", "mail", "reader"
NO_MEMBER = ""
"""groupOfNames needs at least one member: the empty DN stands for "nobody" and matches no user."""

Attributes = dict[str, list[str]]


@dataclass(frozen=True)
class Tree:
    suffix: str

    def operator(self, operator: str) -> str:
        return f"ou={escape_rdn(operator)},{self.suffix}"

    def unit(self, operator: str, name: str) -> str:
        return f"ou={escape_rdn(name)},{self.operator(operator)}"

    def admin(self, operator: str, service: str, username: str) -> str:
        return f"uid={escape_rdn(username)},{self.unit(operator, service)}"

    def reader(self, operator: str) -> str:
        return f"cn={READER},{self.operator(operator)}"

    def mail_account(self, operator: str, username: str) -> str:
        return f"uid={escape_rdn(username)},{self.unit(operator, MAIL)}"

    def person(self, operator: str, uid: str) -> str:
        return f"uid={escape_rdn(uid)},{self.unit(operator, PEOPLE)}"

    def group(self, operator: str, service: str, role: Role) -> str:
        return f"cn={role},{self.unit(operator, service)}"

    def is_person(self, operator: str, dn: str) -> bool:
        return same(parent(dn), self.unit(operator, PEOPLE))


def parent(dn: str) -> str:
    """The parent of a DN we built (RDN values are escaped, so the first unescaped comma splits);
    empty for a single RDN or the empty DN."""
    index = dn.find(",")
    while index > 0 and dn[index - 1] == "\\":
        index = dn.find(",", index + 1)
    return dn[index + 1 :] if index >= 0 else ""


def same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def unit_entry(name: str) -> Attributes:
    return {"objectClass": ["organizationalUnit"], "ou": [name]}


def group_entry(role: Role, members: list[str]) -> Attributes:
    return {"objectClass": ["groupOfNames"], "cn": [role], "member": members or [NO_MEMBER]}


def account_entry(uid: str, display_name: str, email: str, kind: str) -> Attributes:
    return {
        "objectClass": ["inetOrgPerson"],
        "uid": [uid],
        "cn": [display_name],
        "sn": [display_name],
        "displayName": [display_name],
        "mail": [email],
        "employeeType": [kind],
    }


def reader_entry(description: str, password_hash: str) -> Attributes:
    """A role with a password, not a person: no service's user filter (inetOrgPerson) lets it sign in.
    simpleSecurityObject needs its userPassword from the start."""
    return {
        "objectClass": ["organizationalRole", "simpleSecurityObject"],
        "cn": [READER],
        "description": [description],
        "userPassword": [password_hash],
    }
