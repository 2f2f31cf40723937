"""The provider's policy file: loaded as YAML or JSON, refused as a whole with every problem named,
and the defaults that apply without one."""

import json
from pathlib import Path

import pytest

from services.configurator.domain.policy import Policy, PolicyError, load_policy, parse_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "services" / "configurator" / "policy.example.yaml"


def problems_in(text: str, source: str = "policy.yaml") -> list[str]:
    with pytest.raises(PolicyError) as refused:
        parse_policy(text, source)
    return refused.value.problems


def test_without_a_file_the_embedded_defaults_apply_with_dns_mail_and_ssh_keys_switched_on():
    policy = load_policy(None)

    assert policy == Policy()
    assert (policy.dns.enabled, policy.mail_relay.enabled, policy.ssh_keys.enabled) == (True, True, True)
    assert (policy.sizes.mastodon.cores, policy.sizes.peertube.memory_mib, policy.bucket_quota_gib.peertube) == (2, 8192, 500)
    assert policy.placement == "per_service"
    assert policy.quota_for("anyone").model_dump() == {"vms": None, "cores": None, "memory_gib": None, "disk_gib": None, "buckets": None}


def test_the_example_file_loads_and_says_what_it_shows(tmp_path):
    policy = load_policy(EXAMPLE)

    assert [node.name for node in policy.proxmox.nodes] == ["pve1", "pve2"]
    assert policy.proxmox.storage == "linstor-fedi"
    assert str(policy.ip_pools["vnet-fedi"].cidr) == "10.10.0.0/24"
    assert policy.quota_for("acme").memory_gib == 32 and policy.quota_for("acme").vms == 3
    assert policy.preconfigured_bucket("acme", "peertube") == "acme-videos"
    assert policy.preconfigured_bucket("globex", "peertube") is None
    assert policy.directory == Policy().directory, "the example shows the directory's defaults, switched off"


def test_a_json_file_is_read_as_json(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"placement": "combined", "dns": {"enabled": False}}))

    policy = load_policy(path)

    assert policy.placement == "combined" and policy.dns.enabled is False and policy.mail_relay.enabled is True


def test_a_partial_file_keeps_the_defaults_of_what_it_leaves_out():
    policy = parse_policy("sizes:\n  peertube: {cores: 8, memory_mib: 16384, disk_gib: 100}\n")

    assert policy.sizes.peertube.cores == 8
    assert policy.sizes.mastodon == Policy().sizes.mastodon


def test_an_empty_file_is_the_defaults():
    assert parse_policy("", "empty.yaml") == Policy()


def test_every_problem_is_named_by_its_path_at_once():
    problems = problems_in(
        """
sizes:
  mastadon: {cores: 2, memory_mib: 4096, disk_gib: 40}
  peertube: {cores: 0, memory_mib: 8192, disk_gib: 60}
placement: spread
quota: {memory_gib: -1}
allowed_parent_domains: ["not a domain"]
operators:
  acme:
    buckets: {mastodon: "Bad_Bucket"}
mail_relay: {port: 70000}
"""
    )

    assert problems == [
        "sizes.peertube.cores: Input should be greater than or equal to 1",
        "sizes.mastadon: Extra inputs are not permitted",
        "placement: Input should be 'per_service' or 'combined'",
        "allowed_parent_domains.0: 'not a domain' is not a domain name such as provider.example",
        "quota.memory_gib: Input should be greater than or equal to 0",
        "operators.acme.buckets.mastodon: 'Bad_Bucket' is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)",
        "mail_relay.port: Input should be less than or equal to 65535",
    ]


def test_the_error_names_the_file_and_lists_its_problems():
    with pytest.raises(PolicyError) as refused:
        parse_policy("placement: spread", "/etc/fedi/policy.yaml")

    assert str(refused.value) == (
        "the provider policy /etc/fedi/policy.yaml is invalid:\n  - placement: Input should be 'per_service' or 'combined'"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("proxmox: {nodes: [{name: pve1, ip_pool: lan}]}", "proxmox.nodes: node pve1 uses IP pool 'lan', which ip_pools does not define (none defined)"),
        ("proxmox: {nodes: [{name: pve1}, {name: pve1}]}", "proxmox.nodes: node pve1 is listed more than once"),
        ("ip_pools: {lan: {cidr: 10.0.0.0/24, gateway: 10.0.1.1}}", "ip_pools.lan: gateway 10.0.1.1 is outside 10.0.0.0/24"),
        ("ip_pools: {lan: {cidr: 10.0.0.1/24}}", "ip_pools.lan.cidr: '10.0.0.1/24' is not a network such as 10.10.0.0/24 (10.0.0.1/24 has host bits set)"),
        ("operators: {acme: {buckets: {friendica: x-bucket}}}", "operators.acme.buckets.friendica.[key]: Input should be 'mastodon', 'peertube' or 'pixelfed'"),
        ("operators: {ACME: {}}", "operators.ACME.[key]: String should match pattern '^[a-z][a-z0-9-]{1,30}[a-z0-9]$'"),
        ("dns: {ttl: 5}", "dns.ttl: Input should be greater than or equal to 60"),
        ("- just\n- a list", "must be a mapping of settings, not a list"),
        ("sizes: [unclosed", "not valid YAML"),
    ],
    ids=["unknown pool", "duplicate node", "gateway outside", "host bits", "unknown service", "bad operator id", "ttl", "list", "yaml"],
)
def test_a_policy_that_cannot_work_is_refused_saying_why(text, problem):
    found = problems_in(text)
    assert any(p.startswith(problem) for p in found), found


def test_settings_that_contradict_each_other_are_all_named_at_once():
    problems = problems_in(
        """
proxmox: {nodes: [{name: pve1, ip_pool: lan}, {name: pve2, ip_pool: wan}, {name: pve2}]}
ip_pools: {lan: {cidr: 10.0.0.0/24}}
operators:
  acme: {buckets: {peertube: shared-videos}}
  globex: {buckets: {peertube: shared-videos, mastodon: fedi-globex-mastodon}}
"""
    )

    assert problems == [
        "proxmox.nodes: node pve2 is listed more than once",
        "proxmox.nodes: node pve2 uses IP pool 'wan', which ip_pools does not define (lan)",
        "operators.globex.buckets.mastodon: 'fedi-globex-mastodon': names starting with fedi- are kept for the buckets the configurator creates",
        "operators.globex.buckets.peertube: bucket 'shared-videos' is already assigned at operators.acme.buckets.peertube",
    ]


def test_a_file_that_cannot_be_read_is_refused_naming_it(tmp_path):
    with pytest.raises(PolicyError, match=r"policy .*missing.yaml is invalid:\n  - cannot be read: No such file"):
        load_policy(tmp_path / "missing.yaml")


def test_a_json_file_with_bad_json_is_refused():
    assert problems_in("{placement: combined}", "policy.json")[0].startswith("not valid JSON")


def test_vms_land_on_a_stable_node_and_spread_over_all_of_them():
    policy = parse_policy("proxmox: {nodes: [{name: pve1}, {name: pve2}, {name: pve3}]}")
    names = [f"op{i}-mastodon" for i in range(90)]

    first = [policy.node_for(name).name for name in names]

    assert first == [parse_policy("proxmox: {nodes: [{name: pve3}, {name: pve1}, {name: pve2}]}").node_for(n).name for n in names]
    assert {first.count(node) > 15 for node in ("pve1", "pve2", "pve3")} == {True}
    assert Policy().node_for("acme-mastodon") is None


def test_the_zone_is_the_longest_provider_zone_holding_the_domain_or_the_domain_itself():
    policy = parse_policy("dns: {zones: [provider.example, fedi.provider.example]}")

    assert policy.zone_for("acme.fedi.provider.example") == "fedi.provider.example."
    assert policy.zone_for("acme.provider.example") == "provider.example."
    assert policy.zone_for("acme.example") == "acme.example."


def test_the_directory_the_vms_reach_is_off_by_default_and_its_url_is_written_with_its_port():
    assert (Policy().directory.enabled, Policy().directory.url, Policy().directory.tls) == (False, "ldaps://ldap.provider.example:636", True)

    directory = parse_policy("directory: {enabled: true, url: 'LDAPS://Ldap.Provider.Example/', base_dn: 'dc=provider,dc=example'}").directory
    plain = parse_policy("directory: {url: 'ldap://10.10.0.2', tls: false}").directory

    assert (directory.url, directory.base_dn) == ("ldaps://ldap.provider.example:636", "dc=provider,dc=example")
    assert plain.url == "ldap://10.10.0.2:389"


@pytest.mark.parametrize(
    ("directory", "problem"),
    [
        ("{url: 'https://ldap.provider.example'}",
         "directory.url: 'https://ldap.provider.example' is not an LDAP URL such as ldaps://ldap.provider.example: the scheme must be ldap:// or ldaps://"),
        ("{url: 'ldaps://reader:secret@ldap.provider.example'}",
         "directory.url: 'ldaps://reader:secret@ldap.provider.example': the LDAP URL must not hold credentials (the VMs bind with a secret file)"),
        ("{url: 'ldaps://ldap.provider.example/dc=fedi,dc=test'}",
         "directory.url: 'ldaps://ldap.provider.example/dc=fedi,dc=test' is not an LDAP URL such as ldaps://ldap.provider.example: nothing may follow the host and port"),
        ("{url: 'ldaps://ldap.provider.example:70000'}",
         "directory.url: 'ldaps://ldap.provider.example:70000' is not an LDAP URL such as ldaps://ldap.provider.example (Port out of range 0-65535)"),
        ("{url: 'ldaps://ldap_server'}",
         "directory.url: 'ldaps://ldap_server' is not an LDAP URL such as ldaps://ldap.provider.example: 'ldap_server' is not a host name or IPv4 address"),
        ("{url: 'ldap://ldap.provider.example'}",
         "directory: tls is on but the url ldap://ldap.provider.example:389 is plain LDAP: use ldaps:// (StartTLS is not offered:"
         " PeerTube's LDAP plugin cannot use it), or set tls: false to send passwords unencrypted"),
        ("{url: 'ldaps://ldap.provider.example', tls: false}",
         "directory: tls is off but the url ldaps://ldap.provider.example:636 is LDAP over TLS: use ldap:// or set tls: true"),
        ("{base_dn: fedi.test}", "directory.base_dn: 'fedi.test' is not a DN such as dc=provider,dc=example (attribute type not present)"),
        ("{base_dn: 'dc=fedi, dc=test'}",
         "directory.base_dn: 'dc=fedi, dc=test' is not a DN such as dc=provider,dc=example (character ' ' not allowed in attribute type)"),
    ],
    ids=["scheme", "credentials", "path", "port", "host", "tls without ldaps", "ldaps without tls", "base not a dn", "base with spaces"],
)
def test_a_directory_the_vms_could_not_use_is_refused_saying_why(directory, problem):
    assert problems_in(f"directory: {directory}") == [problem]
