"""Stable resource ids and deterministic names, derived from operator, service and kind only.

A resource id is `<operator>/<service>/<kind>[/<role>]`:
- `<service>` is mastodon, peertube or pixelfed, or `_` for what belongs to the operator as a
  whole (the SSH deploy key, the directory reader, the mail DNS records, the shared VM when
  services are combined);
- `<kind>` is always the third part (vm, bucket, account, mail, sshkey, dns, nixos);
- `<role>` tells resources of one kind apart: dns `host` (a service's address record), `spf`, `mx`;
  account `reader` (the operator's directory reader, `<operator>/_/account/reader`; a service's
  admin account has no role).

The directory names (DNs) are those identity writes under the provider's suffix (its
`services/identity/domain/tree.py`): `ou=<operator>` holding `ou=people` and, per service,
`ou=<service>` with its admin account and the groups `cn=admins`, `cn=moderators`, `cn=users`.
"""

from typing import get_args

from ldap3.utils.dn import escape_rdn

from contracts.directory import Role

OPERATOR_WIDE = "_"
COMBINED = "fedi"
"""The name part of the one VM that runs every service of an operator (`<operator>-fedi`)."""

TITLES = {"mastodon": "Mastodon", "peertube": "PeerTube", "pixelfed": "Pixelfed"}


def resource_id(operator: str, service: str, kind: str, role: str | None = None) -> str:
    return f"{operator}/{service}/{kind}" + (f"/{role}" if role else "")


def kind_of(rid: str) -> str:
    return rid.split("/")[2]


def vm_name(operator: str, service: str) -> str:
    return f"{operator}-{COMBINED if service == OPERATOR_WIDE else service}"


BUCKET_PREFIX = "fedi-"
"""Every bucket the configurator creates is named with it; a bucket the provider assigns may not be."""


def bucket_name(operator: str, service: str) -> str:
    return f"{BUCKET_PREFIX}{operator}-{service}"


def relay_username(operator: str, service: str) -> str:
    return f"{operator}-{service}"


def sender_address(service: str, domain: str) -> str:
    return f"{service}@{domain}"


def deploy_key_name(operator: str, generation: int = 1) -> str:
    """A new generation is a new key (a security rekey): the old one is removed from every VM."""
    return f"{operator}-deploy" if generation == 1 else f"{operator}-deploy-g{generation}"


def host_name(service: str, domain: str) -> str:
    return f"{service}.{domain}"


def title(service: str) -> str:
    return TITLES.get(service, service)


def listing(services) -> str:
    """`Mastodon`, `Mastodon and PeerTube`, `Mastodon, PeerTube and Pixelfed`."""
    names = [title(service) for service in services]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# -- the operator's subtree in the provider's directory -------------------------------------------

ROLES: tuple[Role, ...] = get_args(Role)
PEOPLE = "people"
READER = "reader"
DIRECTORY_READER = f"cn={READER}"
"""The operator's read-only bind account, directly under ou=<operator>: not an inetOrgPerson, so no
service ever takes it for a user who may sign in."""
DIRECTORY_BIND_SECRET = "ldap-bind-password"
"""The secret file (under /run/fediversity/secrets/) holding the reader's password on every VM."""


def operator_dn(base_dn: str, operator: str) -> str:
    return f"ou={escape_rdn(operator)},{base_dn}"


def unit_dn(base_dn: str, operator: str, name: str) -> str:
    """`ou=people` or `ou=<service>` of the operator."""
    return f"ou={escape_rdn(name)},{operator_dn(base_dn, operator)}"


def group_dn(base_dn: str, operator: str, service: str, role: Role) -> str:
    return f"cn={role},{unit_dn(base_dn, operator, service)}"


def reader_dn(base_dn: str, operator: str) -> str:
    return f"{DIRECTORY_READER},{operator_dn(base_dn, operator)}"
