"""The per-VM JSON the `nix/` modules read (documented in nix/README.md).

The configurator writes what it knows at planning time; the orchestrator adds the run-time facts
before deploying: `vm.address`, and per service `s3.*`, `admin.*` and `smtp.passwordFile`. With the
policy's directory enabled, each service's `ldap` section names the file the orchestrator must
provide: `ldap.bindPasswordFile`, the operator's reader password.
"""

from ldap3.utils.conv import escape_filter_chars

from contracts.configuration import SERVICES, OperatorConfiguration
from contracts.resources import VmSpec

from .naming import (
    DIRECTORY_BIND_SECRET,
    PEOPLE,
    ROLES,
    group_dn,
    host_name,
    operator_dn,
    reader_dn,
    relay_username,
    sender_address,
    unit_dn,
)
from .policy import Directory, Policy

SECRETS_DIR = "/run/fediversity/secrets"
ATTRIBUTES = {"uid": "uid", "mail": "mail", "cn": "cn"}
"""The attributes identity writes on every account: login name, e-mail address, display name."""


def vm_json(operator: str, config: OperatorConfiguration, policy: Policy, vm: VmSpec, services: tuple[str, ...]) -> dict:
    return {
        "fediversity": {
            "operator": operator,
            "domain": config.domain,
            "release": policy.release,
            "vm": {"name": vm.name, "cores": vm.cores, "memoryMiB": vm.memory_mib, "diskGiB": vm.disk_gib},
            "initialUser": config.initial_user.model_dump(mode="json", by_alias=True),
            **{
                name: _service(operator, name, config, policy) if name in services else {"enable": False}
                for name in SERVICES
            },
        }
    }


def _service(operator: str, service: str, config: OperatorConfiguration, policy: Policy) -> dict:
    section = {
        "enable": True,
        "hostName": host_name(service, config.domain),
        "options": config.service(service).model_dump(mode="json", by_alias=True, exclude={"enable", "data_on_disable"}),
    }
    relay = policy.mail_relay
    if relay.enabled:
        section["smtp"] = {
            "host": relay.host,
            "port": relay.port,
            "security": relay.security,
            "username": relay_username(operator, service),
            "fromAddress": sender_address(service, config.domain),
        }
    if policy.directory.enabled:
        section["ldap"] = directory_settings(operator, service, policy.directory)
    return section


def directory_settings(operator: str, service: str, directory: Directory) -> dict:
    """How `service` signs users in against the operator's subtree: who may (the operator's people and
    the service's own admin account, never its relay accounts or other services' admins) and which
    group gives which role."""
    base = directory.base_dn
    own = unit_dn(base, operator, service)
    # Entries right under ou=people or ou=<service> by OpenLDAP's entryDN rule: unlike (ou:dn:=<service>),
    # it cannot be fooled by an operator or base DN that happens to be named like a service.
    under = "".join(f"(entryDN:dnOneLevelMatch:={escape_filter_chars(dn)})" for dn in (unit_dn(base, operator, PEOPLE), own))
    return {
        "url": directory.url,
        "bindDn": reader_dn(base, operator),
        "bindPasswordFile": f"{SECRETS_DIR}/{DIRECTORY_BIND_SECRET}",
        "searchBase": operator_dn(base, operator),
        "userFilter": f"(&(objectClass=inetOrgPerson)(|{under}))",
        "groupBase": own,
        "groups": {role: group_dn(base, operator, service, role) for role in ROLES},
        "attributes": dict(ATTRIBUTES),
    }
