"""With the provider's directory in the policy, each service of the per-VM JSON is told to sign its
users in against the operator's subtree: the very DNs identity writes for that operator and service,
a bind as the operator's read-only account whose password is only a file, and nothing without it.
That account is planned once per operator, and every NixOS deploy waits for it."""

import json

import pytest

from contracts.resources import Resource
from services.configurator.domain.diff import diff
from services.configurator.domain.planning import plan_resources, validate
from services.configurator.domain.policy import Policy, parse_policy
from services.identity.domain.tree import PEOPLE, ROLES, Tree

SERVICES = ("mastodon", "peertube", "pixelfed")
CONFIGURATION = {
    "domain": "acme.example",
    "initialUser": {"username": "alice", "displayName": "Alice", "email": "alice@acme.example"},
    **{service: {"enable": True} for service in SERVICES},
}


def settings(policy: Policy, operator: str = "acme") -> dict[str, dict]:
    """Each enabled service's section of the per-VM JSON, whichever VM it is on."""
    found = {}
    for resource in plan_resources(operator, validate(CONFIGURATION), policy):
        if resource.kind == "nixos":
            root = resource.spec.config["fediversity"]
            found |= {service: root[service] for service in SERVICES if root[service]["enable"]}
    return found


@pytest.mark.parametrize("placement", ["per_service", "combined"])
@pytest.mark.parametrize(("operator", "base_dn"), [("acme", "dc=fedi,dc=test"), ("globex-2", "ou=operators,dc=provider,dc=example")])
def test_each_service_is_told_the_dns_identity_writes_for_that_operator_and_service(placement, operator, base_dn):
    policy = parse_policy(f"placement: {placement}\ndirectory: {{enabled: true, base_dn: '{base_dn}'}}")
    tree = Tree(base_dn)

    for service, section in settings(policy, operator).items():
        ldap = section["ldap"]
        assert ldap["searchBase"] == tree.operator(operator)
        assert ldap["groupBase"] == tree.unit(operator, service)
        assert ldap["groups"] == {role: tree.group(operator, service, role) for role in ROLES}
        assert ldap["bindDn"] == f"cn=reader,{tree.operator(operator)}"
        assert ldap["attributes"] == {"uid": "uid", "mail": "mail", "cn": "cn"}
        assert ldap["userFilter"] == (
            "(&(objectClass=inetOrgPerson)(|"
            f"(entryDN:dnOneLevelMatch:={tree.unit(operator, PEOPLE)})(entryDN:dnOneLevelMatch:={tree.unit(operator, service)})))"
        )


def test_a_service_is_never_pointed_at_another_services_accounts_or_the_relay_accounts():
    for service, section in settings(parse_policy("directory: {enabled: true}")).items():
        named = json.dumps(section["ldap"])
        assert all(f"ou={other}," not in named for other in SERVICES if other != service)
        assert "ou=mail," not in named


def test_the_vms_reach_the_policys_directory_and_bind_with_a_secret_file_never_a_password():
    policy = parse_policy("directory: {enabled: true, url: 'ldaps://LDAP.internal.provider.example:1636/'}")

    for section in settings(policy).values():
        ldap = section["ldap"]
        assert ldap["url"] == "ldaps://ldap.internal.provider.example:1636"
        assert ldap["bindPasswordFile"] == "/run/fediversity/secrets/ldap-bind-password"
        assert [key for key in ldap if "password" in key.lower()] == ["bindPasswordFile"]


def test_without_the_directory_no_service_is_told_about_ldap():
    assert Policy().directory.enabled is False
    assert all("ldap" not in section for section in settings(Policy()).values())


def test_a_dn_part_that_needs_escaping_is_escaped_in_the_filter_as_well():
    ldap = settings(parse_policy("directory: {enabled: true, base_dn: 'o=Acme (EU),dc=example'}"))["mastodon"]["ldap"]

    assert ldap["groupBase"] == "ou=mastodon,ou=acme,o=Acme (EU),dc=example"
    assert "dnOneLevelMatch:=ou=mastodon,ou=acme,o=Acme \\28EU\\29,dc=example)" in ldap["userFilter"]


# -- the reader account the VMs bind as ---------------------------------------------------------------


def planned(policy: Policy, document: dict = CONFIGURATION) -> dict[str, Resource]:
    return {resource.id: resource for resource in plan_resources("acme", validate(document), policy)}


@pytest.mark.parametrize("placement", ["per_service", "combined"])
def test_with_the_directory_on_the_operator_gets_one_reader_account_that_every_deploy_waits_for(placement):
    resources = planned(parse_policy(f"placement: {placement}\ndirectory: {{enabled: true}}"))

    readers = [r for r in resources.values() if r.kind == "account" and r.service == "_"]
    assert [(r.id, r.spec.username) for r in readers] == [("acme/_/account/reader", "reader")]
    deploys = [r for r in resources.values() if r.kind == "nixos"]
    assert deploys and all("acme/_/account/reader" in r.depends_on for r in deploys)
    admins = [r for r in resources.values() if r.kind == "account" and r.service != "_"]
    assert {r.id for r in admins} == {f"acme/{service}/account" for service in SERVICES}, "every service keeps its admin"


def test_without_the_directory_no_reader_account_is_planned():
    assert not [rid for rid in planned(Policy()) if rid.startswith("acme/_/account")]


def test_switching_the_directory_off_deletes_the_reader_and_redeploys_without_it():
    on, off = planned(parse_policy("directory: {enabled: true}")), planned(Policy())

    changes = {change.resource_id: change for change in diff(list(on.values()), list(off.values()))}

    reader = changes["acme/_/account/reader"]
    assert (reader.action, reader.kind, reader.service, reader.spec["username"]) == ("delete", "account", "_", "reader")
    assert {changes[f"acme/{service}/nixos"].action for service in SERVICES} == {"update"}
