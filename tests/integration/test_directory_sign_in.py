"""The directory settings each service gets in the per-VM JSON, as that service uses them: turned by
nix/lib/ldap.nix into Mastodon's LDAP_* environment, the settings of PeerTube's LDAP plugin and
Pixelfed's .env, and searched in a real slapd holding what identity writes there. A sign-in finds
exactly that service's admin account or the operator's person, and the admin's group is the admins DN."""

import json

import ldap3
import pytest

from services.configurator.domain.nixos import directory_settings
from services.configurator.domain.policy import parse_policy
from services.identity.adapters.ldap import LdapEntries
from services.identity.directory import Directory
from services.identity.domain.entries import Add
from services.identity.domain.sync import person_entry
from services.identity.domain.tree import Tree
from tests.integration.test_configurator_nix import CONFIGURATION, emitted, errors_in
from tests.integration.test_deployer import NIX_DIR, nix_eval
from tests.integration.test_identity_directory import SUFFIX, provider_ldap, slapd_installed  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

SERVICES = ("mastodon", "peertube", "pixelfed")
DIRECTORY = parse_policy(f"directory: {{enabled: true, base_dn: '{SUFFIX}'}}").directory
PLAIN = parse_policy(f"directory: {{enabled: true, url: 'ldap://10.10.0.2', tls: false, base_dn: '{SUFFIX}'}}").directory


def mapped(ldap: dict, tmp_path) -> dict:
    """What nix/lib/ldap.nix makes of a service's `ldap` section, per service."""
    path = tmp_path / "ldap.json"
    path.write_text(json.dumps(ldap))
    return nix_eval(
        "-E",
        f'let l = import {NIX_DIR}/lib/ldap.nix; ldap = builtins.fromJSON (builtins.readFile "{path}"); '
        "in { mastodon = l.mastodon ldap; peertube = l.peertube ldap; pixelfed = l.pixelfed ldap; }",
    )


def test_mastodon_gets_its_ldap_environment_with_the_filter_escaped_for_systemd(tmp_path):
    ldap = directory_settings("acme", "mastodon", DIRECTORY)

    environment = mapped(ldap, tmp_path)["mastodon"]

    assert environment == {
        "LDAP_ENABLED": "true",
        "LDAP_HOST": "ldap.provider.example",
        "LDAP_PORT": "636",
        "LDAP_METHOD": "simple_tls",
        "LDAP_BASE": "ou=acme,dc=fedi,dc=test",
        "LDAP_BIND_DN": "cn=reader,ou=acme,dc=fedi,dc=test",
        "LDAP_UID": "uid",
        "LDAP_MAIL": "mail",
        "LDAP_SEARCH_FILTER": f"(&{ldap['userFilter']}(|(uid=%%{{email}})(mail=%%{{email}})))",
        "LDAP_UID_CONVERSION_ENABLED": "true",
    }
    plain = mapped(directory_settings("acme", "mastodon", PLAIN), tmp_path)["mastodon"]
    assert (plain["LDAP_HOST"], plain["LDAP_PORT"], plain["LDAP_METHOD"]) == ("10.10.0.2", "389", "plain")


def test_peertubes_ldap_plugin_maps_the_three_groups_to_its_roles(tmp_path):
    ldap = directory_settings("acme", "peertube", DIRECTORY)

    settings = mapped(ldap, tmp_path)["peertube"]

    assert settings == {
        "url": "ldaps://ldap.provider.example:636",
        "insecure-tls": False,
        "bind-dn": "cn=reader,ou=acme,dc=fedi,dc=test",
        "search-base": "ou=acme,dc=fedi,dc=test",
        "search-filter": f"(&{ldap['userFilter']}(|(uid={{{{username}}}})(mail={{{{username}}}})))",
        "mail-property": "mail",
        "username-property": "uid",
        "group-base": "ou=peertube,ou=acme,dc=fedi,dc=test",
        "group-filter": "(member={{dn}})",
        "group-admin": "cn=admins,ou=peertube,ou=acme,dc=fedi,dc=test",
        "group-mod": "cn=moderators,ou=peertube,ou=acme,dc=fedi,dc=test",
        "group-user": "cn=users,ou=peertube,ou=acme,dc=fedi,dc=test",
    }
    assert "bind-credentials" not in settings, "the password is read from its file on the VM"


def test_pixelfed_gets_its_ldap_connection_settings(tmp_path):
    settings = mapped(directory_settings("acme", "pixelfed", PLAIN), tmp_path)["pixelfed"]

    assert settings == {
        "LDAP_HOST": "10.10.0.2",
        "LDAP_PORT": 389,
        "LDAP_SSL": False,
        "LDAP_TLS": False,
        "LDAP_BASE_DN": "ou=acme,dc=fedi,dc=test",
        "LDAP_USERNAME": "cn=reader,ou=acme,dc=fedi,dc=test",
    }


async def identitys_tree(server) -> Directory:
    """Two operators as identity keeps them: alice the admin of every service (a password each), the
    relay accounts, and bob synced from the operator's own directory."""
    directory = Directory(LdapEntries(server.url, server.bind_dn, server.password), Tree(SUFFIX))
    for operator in ("acme", "globex"):
        for service in SERVICES:
            await directory.put_account(operator, service, "alice", "Alice", f"alice@{operator}.example", f"{operator}-{service}-pw", "admin")
            await directory.put_account(operator, service, f"{operator}-{service}", "relay", f"{service}@{operator}.example", "relay-pw", "smtp")
        await directory.apply([Add(directory.tree.person(operator, "bob"), person_entry("bob", {"mail": [f"bob@{operator}.example"]}))])
    return directory


def found(conn: ldap3.Connection, base: str, search_filter: str) -> list[str]:
    assert conn.search(base, search_filter, ldap3.SUBTREE) or conn.result["description"] == "success", conn.result
    return sorted(entry.entry_dn for entry in conn.entries)


@pytest.mark.parametrize("service", SERVICES)
async def test_signing_in_finds_exactly_that_services_admin_or_the_operators_person(provider_ldap, service, tmp_path):
    directory = await identitys_tree(provider_ldap)
    tree, ldap = directory.tree, directory_settings("acme", service, DIRECTORY)
    nix = mapped(ldap, tmp_path)
    # What each service searches with what was typed: PeerTube's plugin, and Mastodon after systemd and Ruby's format().
    searches = {
        "peertube": lambda typed: nix["peertube"]["search-filter"].replace("{{username}}", typed),
        "mastodon": lambda typed: nix["mastodon"]["LDAP_SEARCH_FILTER"].replace("%%", "%").replace("%{email}", typed),
    }
    conn = ldap3.Connection(provider_ldap.url, provider_ldap.bind_dn, provider_ldap.password, auto_bind=True)

    for search in searches.values():
        assert found(conn, ldap["searchBase"], search("alice")) == [tree.admin("acme", service, "alice")]
        assert found(conn, ldap["searchBase"], search("alice@acme.example")) == [tree.admin("acme", service, "alice")]
        assert found(conn, ldap["searchBase"], search("bob")) == [tree.person("acme", "bob")]
        assert found(conn, ldap["searchBase"], search(f"acme-{service}")) == [], "a relay account never signs in"
    assert await directory.bind(tree.admin("acme", service, "alice"), f"acme-{service}-pw")
    assert found(conn, ldap["groupBase"], f"(member={tree.admin('acme', service, 'alice')})") == [ldap["groups"]["admins"]]
    assert set(ldap["groups"].values()) == set(found(conn, ldap["groupBase"], "(objectClass=groupOfNames)"))


def test_nixos_would_refuse_a_directory_url_that_is_not_ldap(tmp_path):
    [config] = emitted(parse_policy("directory: {enabled: true}"), {**CONFIGURATION, "peertube": {"enable": False}, "pixelfed": {"enable": False}})
    config["fediversity"]["mastodon"]["ldap"]["url"] = "https://ldap.provider.example"

    assert errors_in(config, tmp_path) == [
        "The option `fediversity.mastodon.ldap.url' is not of type `null or string matching the pattern ldaps?://[^/:]+(:[0-9]+)?/?'."
    ]
