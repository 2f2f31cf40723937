"""The configurator's planning: an operator's choices become every concrete resource, the changes
against what was applied, or a refusal in plain words."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from contracts.resources import Change, Resource
from services.configurator.domain.diff import Intent, diff
from services.configurator.domain.planning import InvalidConfiguration, plan_resources, validate
from services.configurator.domain.plans import SWEEPS, plan_configuration, plan_removal, policy_impact, removed_items
from services.configurator.domain.policy import Policy

POLICY = Policy.model_validate(
    {
        "sizes": {
            "mastodon": {"cores": 3, "memory_mib": 5000, "disk_gib": 41},
            "peertube": {"cores": 5, "memory_mib": 9000, "disk_gib": 61},
            "pixelfed": {"cores": 1, "memory_mib": 3000, "disk_gib": 21},
        },
        "bucket_quota_gib": {"mastodon": 7, "peertube": 9, "pixelfed": 3},
        "mail_relay": {"host": "relay.provider.example", "port": 2525, "spf": "include:_spf.provider.example"},
        "dns": {"ttl": 600},
    }
)
OFF = POLICY.model_copy(
    update={
        "dns": POLICY.dns.model_copy(update={"enabled": False}),
        "mail_relay": POLICY.mail_relay.model_copy(update={"enabled": False}),
        "ssh_keys": POLICY.ssh_keys.model_copy(update={"enabled": False}),
    }
)
GIB = 1024**3
ROOT = Path(__file__).resolve().parents[2]
SERVICE_KINDS = ("vm", "bucket", "account", "mail", "dns/host", "nixos")
BASIC_KINDS = ("vm", "account", "bucket", "nixos")


def with_policy(base: Policy = POLICY, **changes) -> Policy:
    return Policy.model_validate(base.model_dump(mode="json") | changes)


def configuration(domain: str = "example.org", **services) -> dict:
    return {
        "domain": domain,
        "initialUser": {"username": "alice", "displayName": "Alice Example", "email": "alice@example.org"},
        **{name: {"enable": True, **options} for name, options in services.items()},
    }


def plan(document: dict, operator: str = "acme", policy: Policy = POLICY) -> dict[str, Resource]:
    return {resource.id: resource for resource in plan_resources(operator, validate(document), policy)}


def as_json(items) -> bytes:
    return TypeAdapter(list[Resource | Change]).dump_json(list(items))


def actions(found) -> dict[str, str]:
    return {change.resource_id: change.action for change in found}


def refusal(document: dict, policy: Policy, operator: str = "acme") -> dict[str, list[str]]:
    with pytest.raises(InvalidConfiguration) as refused:
        plan_configuration(operator, document, policy)
    found: dict[str, list[str]] = {}
    for problem in refused.value.problems:
        found.setdefault(problem.field, []).append(problem.message)
    return found


@pytest.fixture
def mastodon_and_pixelfed() -> dict[str, Resource]:
    return plan(configuration(mastodon={}, pixelfed={}))


# -- every resource kind ------------------------------------------------------------------------------


def test_each_enabled_service_gets_a_vm_bucket_admin_and_mail_account_address_record_and_nixos(mastodon_and_pixelfed):
    assert sorted(mastodon_and_pixelfed) == sorted(
        [f"acme/{service}/{kind}" for service in ("mastodon", "pixelfed") for kind in SERVICE_KINDS]
        + ["acme/_/sshkey", "acme/_/dns/spf", "acme/_/dns/dmarc"]
    )
    for rid, resource in mastodon_and_pixelfed.items():
        _, service, kind, *_ = rid.split("/")
        assert (resource.service, resource.kind) == (service, kind)


def test_a_disabled_service_gets_nothing(mastodon_and_pixelfed):
    assert not any(resource.service == "peertube" for resource in mastodon_and_pixelfed.values())


def test_names_are_derived_from_the_operator_and_the_service(mastodon_and_pixelfed):
    assert mastodon_and_pixelfed["acme/mastodon/vm"].spec.name == "acme-mastodon"
    assert mastodon_and_pixelfed["acme/pixelfed/bucket"].spec.name == "fedi-acme-pixelfed"
    assert mastodon_and_pixelfed["acme/pixelfed/mail"].spec.username == "acme-pixelfed"
    assert mastodon_and_pixelfed["acme/_/sshkey"].spec.name == "acme-deploy"
    assert mastodon_and_pixelfed["acme/pixelfed/nixos"].spec.config["fediversity"]["pixelfed"]["hostName"] == "pixelfed.example.org"


def test_vm_sizes_and_bucket_quotas_come_from_the_provider_policy(mastodon_and_pixelfed):
    vm = mastodon_and_pixelfed["acme/mastodon/vm"].spec
    assert (vm.cores, vm.memory_mib, vm.disk_gib) == (3, 5000, 41)
    pixelfed_vm = mastodon_and_pixelfed["acme/pixelfed/vm"].spec
    assert (pixelfed_vm.cores, pixelfed_vm.memory_mib, pixelfed_vm.disk_gib) == (1, 3000, 21)
    assert mastodon_and_pixelfed["acme/mastodon/bucket"].spec.quota_bytes == 7 * GIB
    assert mastodon_and_pixelfed["acme/pixelfed/bucket"].spec.quota_bytes == 3 * GIB


def test_vms_are_tagged_with_the_operator_so_they_can_be_found_again(mastodon_and_pixelfed):
    assert "fedi-op-acme" in mastodon_and_pixelfed["acme/mastodon/vm"].spec.tags
    assert "fedi-svc-mastodon" in mastodon_and_pixelfed["acme/mastodon/vm"].spec.tags


def test_the_initial_user_becomes_the_admin_account_of_every_service(mastodon_and_pixelfed):
    for service in ("mastodon", "pixelfed"):
        account = mastodon_and_pixelfed[f"acme/{service}/account"].spec
        assert (account.username, account.email, account.display_name) == ("alice", "alice@example.org", "Alice Example")


def test_each_service_sends_mail_through_its_own_relay_account_from_an_address_on_the_operators_domain(mastodon_and_pixelfed):
    mail = mastodon_and_pixelfed["acme/mastodon/mail"].spec
    assert (mail.username, mail.from_address) == ("acme-mastodon", "mastodon@example.org")


def test_one_ssh_deploy_key_per_operator_is_needed_by_every_vm_and_every_deploy(mastodon_and_pixelfed):
    keys = [r for r in mastodon_and_pixelfed.values() if r.kind == "sshkey"]
    assert [key.id for key in keys] == ["acme/_/sshkey"]
    for service in ("mastodon", "pixelfed"):
        assert mastodon_and_pixelfed[f"acme/{service}/vm"].depends_on == ("acme/_/sshkey",)
        assert "acme/_/sshkey" in mastodon_and_pixelfed[f"acme/{service}/nixos"].depends_on


def test_each_host_name_gets_an_address_record_pointing_at_its_vm(mastodon_and_pixelfed):
    record = mastodon_and_pixelfed["acme/mastodon/dns/host"]
    assert (record.spec.zone, record.spec.name, record.spec.type, record.spec.ttl) == (
        "example.org.", "mastodon.example.org.", "A", 600,
    )
    assert record.spec.address_of == "acme/mastodon/vm"
    assert record.depends_on == ("acme/mastodon/vm",)
    assert record.spec.content == ()


def test_the_domain_gets_an_spf_record_allowing_the_providers_relay_and_no_mx_unless_the_policy_names_one(mastodon_and_pixelfed):
    spf = mastodon_and_pixelfed["acme/_/dns/spf"].spec
    assert (spf.zone, spf.name, spf.type, spf.content) == (
        "example.org.", "example.org.", "TXT", ("v=spf1 include:_spf.provider.example ~all",),
    )
    with_mx = plan(configuration(mastodon={}), policy=with_policy(mail_relay={"mx": ["mx1.provider.example", "mx2.provider.example"]}))
    mx = with_mx["acme/_/dns/mx"].spec
    assert (mx.name, mx.type, mx.content) == ("example.org.", "MX", ("10 mx1.provider.example.", "20 mx2.provider.example."))
    assert with_policy(mail_relay={"host": "relay.provider.example"}).mail_relay.spf_record == "v=spf1 a:relay.provider.example ~all"


def test_the_domain_gets_a_dmarc_record_and_the_relays_dkim_key_when_the_provider_gives_one(mastodon_and_pixelfed):
    dmarc = mastodon_and_pixelfed["acme/_/dns/dmarc"].spec
    assert (dmarc.name, dmarc.type, dmarc.content) == ("_dmarc.example.org.", "TXT", ("v=DMARC1; p=none",))
    assert "acme/_/dns/dkim" not in mastodon_and_pixelfed
    key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr" + "A" * 40
    signed = plan(configuration(mastodon={}), policy=with_policy(mail_relay={"dkim": {"selector": "fedi2027", "public_key": key}, "dmarc": ""}))
    dkim = signed["acme/_/dns/dkim"].spec
    assert (dkim.name, dkim.type, dkim.content) == ("fedi2027._domainkey.example.org.", "TXT", (f"v=DKIM1; k=rsa; p={key}",))
    assert "acme/_/dns/dmarc" not in signed


def test_records_go_into_the_providers_zone_when_the_domain_is_under_it():
    hosted = with_policy(dns={"zones": ["fedi.provider.example", "provider.example"]})
    records = plan(configuration("acme.fedi.provider.example", mastodon={}), policy=hosted)
    assert records["acme/mastodon/dns/host"].spec.zone == "fedi.provider.example."
    assert records["acme/mastodon/dns/host"].spec.name == "mastodon.acme.fedi.provider.example."


def test_a_vm_in_an_ipv6_pool_gets_an_aaaa_record():
    policy = with_policy(proxmox={"nodes": [{"name": "pve1", "ip_pool": "v6"}]}, ip_pools={"v6": {"cidr": "2001:db8::/64"}})
    assert plan(configuration(mastodon={}), policy=policy)["acme/mastodon/dns/host"].spec.type == "AAAA"


def test_nixos_is_deployed_after_everything_its_vm_needs(mastodon_and_pixelfed):
    for service in ("mastodon", "pixelfed"):
        nixos = mastodon_and_pixelfed[f"acme/{service}/nixos"]
        assert set(nixos.depends_on) == {"acme/_/sshkey"} | {f"acme/{service}/{kind}" for kind in SERVICE_KINDS[:-1]}
        assert nixos.spec.vm == f"acme/{service}/vm"


def test_the_per_vm_json_carries_the_relay_and_the_login_but_never_a_password(mastodon_and_pixelfed):
    settings = mastodon_and_pixelfed["acme/mastodon/nixos"].spec.config["fediversity"]
    assert settings["mastodon"]["smtp"] == {
        "host": "relay.provider.example",
        "port": 2525,
        "security": "starttls",
        "username": "acme-mastodon",
        "fromAddress": "mastodon@example.org",
    }
    assert settings["release"] == "24.11"
    assert settings["pixelfed"] == {"enable": False} and settings["peertube"] == {"enable": False}
    assert "password" not in json.dumps(mastodon_and_pixelfed["acme/mastodon/nixos"].spec.config).lower()


def test_with_dns_mail_and_ssh_keys_switched_off_only_vms_buckets_accounts_and_nixos_are_planned():
    resources = plan(configuration(mastodon={}, pixelfed={}), policy=OFF)

    assert sorted(resources) == sorted(f"acme/{s}/{k}" for s in ("mastodon", "pixelfed") for k in BASIC_KINDS)
    assert set(resources["acme/mastodon/nixos"].depends_on) == {f"acme/mastodon/{k}" for k in ("vm", "account", "bucket")}
    assert resources["acme/mastodon/vm"].depends_on == ()
    assert "smtp" not in resources["acme/mastodon/nixos"].spec.config["fediversity"]["mastodon"]


def test_combined_placement_runs_every_service_on_one_vm_sized_for_all_of_them():
    resources = plan(configuration(mastodon={}, pixelfed={}), policy=with_policy(placement="combined"))

    vm = resources["acme/_/vm"]
    assert (vm.spec.name, vm.spec.cores, vm.spec.memory_mib, vm.spec.disk_gib) == ("acme-fedi", 4, 8000, 62)
    assert {"fedi-svc-mastodon", "fedi-svc-pixelfed"} <= set(vm.spec.tags)
    assert [r.id for r in resources.values() if r.kind in ("vm", "nixos")] == ["acme/_/vm", "acme/_/nixos"]
    settings = resources["acme/_/nixos"].spec.config["fediversity"]
    assert (settings["vm"]["name"], settings["mastodon"]["enable"], settings["pixelfed"]["enable"]) == ("acme-fedi", True, True)
    machine = resources["acme/_/dns/machine"].spec
    assert (machine.name, machine.type, machine.address_of) == ("acme-fedi.example.org.", "A", "acme/_/vm")
    alias = resources["acme/pixelfed/dns/host"].spec
    assert (alias.name, alias.type, alias.content) == ("pixelfed.example.org.", "CNAME", ("acme-fedi.example.org.",)), (
        "the services' names are aliases of the one machine: a new address changes one record"
    )
    assert {"acme/mastodon/bucket", "acme/pixelfed/account", "acme/pixelfed/mail"} <= set(resources["acme/_/nixos"].depends_on)


def test_vms_are_placed_on_the_policys_nodes_template_storage_and_ip_pool():
    policy = with_policy(
        proxmox={"nodes": [{"name": "pve1", "ip_pool": "fedi"}], "template": 9100, "storage": "linstor"},
        ip_pools={"fedi": {"cidr": "10.20.0.0/24", "gateway": "10.20.0.1"}},
    )
    vm = plan(configuration(mastodon={}), policy=policy)["acme/mastodon/vm"].spec
    assert (vm.node, vm.template, vm.storage, vm.ip_pool) == ("pve1", 9100, "linstor", "fedi")
    default = plan(configuration(mastodon={}))["acme/mastodon/vm"].spec
    assert (default.node, default.template, default.storage, default.ip_pool) == (None, None, None, None)


def test_adding_a_node_moves_only_a_share_of_the_vms():
    two = with_policy(proxmox={"nodes": [{"name": "pve1"}, {"name": "pve2"}]})
    three = with_policy(proxmox={"nodes": [{"name": "pve1"}, {"name": "pve2"}, {"name": "pve3"}]})
    names = [f"op{i:03d}-mastodon" for i in range(300)]

    before = {name: two.node_for(name).name for name in names}
    after = {name: three.node_for(name).name for name in names}

    moved = [name for name in names if before[name] != after[name]]
    assert all(after[name] == "pve3" for name in moved), "a VM only ever moves to the new node"
    assert 50 < len(moved) < 150
    assert {before[name] for name in names} == {"pve1", "pve2"}


def test_a_bucket_the_provider_assigned_is_used_instead_of_a_new_one():
    policy = with_policy(operators={"acme": {"buckets": {"mastodon": "acme-legacy-media"}}})
    resources = plan(configuration(mastodon={}, pixelfed={}), policy=policy)

    assert resources["acme/mastodon/bucket"].spec.name == "acme-legacy-media"
    assert resources["acme/mastodon/bucket"].spec.preconfigured is True
    assert resources["acme/pixelfed/bucket"].spec.preconfigured is False
    assert plan(configuration(mastodon={}), "globex", policy)["globex/mastodon/bucket"].spec.name == "fedi-globex-mastodon"


def test_nothing_is_made_before_an_assigned_bucket_has_been_checked_with_its_key():
    policy = with_policy(operators={"acme": {"buckets": {"mastodon": "acme-legacy-media"}}})
    resources = plan(configuration(mastodon={}, pixelfed={}), policy=policy)

    assert resources["acme/mastodon/bucket"].depends_on == ()
    waiting = {rid for rid, r in resources.items() if "acme/mastodon/bucket" in r.depends_on}
    assert waiting == {rid for rid in resources if rid.startswith("acme/mastodon/")} - {"acme/mastodon/bucket"}, (
        "Mastodon's VM, accounts and records wait for the check; Pixelfed's do not"
    )
    combined = plan(configuration(mastodon={}, pixelfed={}), policy=with_policy(policy, placement="combined"))
    assert "acme/mastodon/bucket" in combined["acme/_/vm"].depends_on, "the VM Mastodon shares waits too"


def test_a_service_without_a_bucket_quota_gets_no_bucket_unless_one_was_assigned():
    policy = with_policy(bucket_quota_gib={"mastodon": None, "pixelfed": None})
    assert "acme/mastodon/bucket" not in plan(configuration(mastodon={}), policy=policy)
    assigned = with_policy(policy, operators={"acme": {"buckets": {"pixelfed": "acme-photos"}}})
    bucket = plan(configuration(pixelfed={}), policy=assigned)["acme/pixelfed/bucket"].spec
    assert (bucket.name, bucket.quota_bytes, bucket.preconfigured) == ("acme-photos", None, True)


def test_the_same_configuration_gives_a_byte_identical_plan():
    document = configuration(mastodon={"registrations": "open"}, pixelfed={"maxPhotoMib": 20})
    applied = list(plan(configuration(mastodon={})).values())

    first = plan_configuration("acme", document, POLICY, applied)
    second = plan_configuration("acme", dict(reversed(list(document.items()))), Policy.model_validate(POLICY.model_dump()), applied)

    assert as_json(first.resources) == as_json(second.resources)
    assert as_json(first.changes) == as_json(second.changes)


PLAN_IN_ANOTHER_PROCESS = """
import json, sys
from pydantic import TypeAdapter
from contracts.resources import Change, Resource
from services.configurator.domain.plans import plan_configuration
from services.configurator.domain.policy import load_policy
before, after, policy = json.loads(sys.argv[1]), json.loads(sys.argv[2]), load_policy(sys.argv[3])
plan = plan_configuration("acme", after, policy, plan_configuration("acme", before, policy).resources)
sys.stdout.buffer.write(TypeAdapter(list[Resource | Change]).dump_json([*plan.resources, *plan.changes]))
"""


def test_a_plan_is_byte_identical_in_other_processes_whatever_their_hash_seed():
    """Sets and dicts iterate in another order under another PYTHONHASHSEED: none may leak into a plan."""
    before = configuration(mastodon={}, peertube={})
    after = configuration(mastodon={"registrations": "closed"}, pixelfed={}) | {"peertube": {"enable": False, "dataOnDisable": "delete"}}
    example = ROOT / "services" / "configurator" / "policy.example.yaml"

    def planned_with(seed: str) -> bytes:
        command = [sys.executable, "-c", PLAN_IN_ANOTHER_PROCESS, json.dumps(before), json.dumps(after), str(example)]
        result = subprocess.run(command, cwd=ROOT, env=os.environ | {"PYTHONHASHSEED": seed}, capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout

    first, second = planned_with("1"), planned_with("2")

    assert first == second
    assert {change.action for change in TypeAdapter(list[Resource | Change]).validate_json(first) if isinstance(change, Change)} == {
        "create", "update", "delete", "unchanged"
    }


# -- what the provider allows ----------------------------------------------------------------------


def test_a_plan_over_the_memory_quota_is_refused_with_the_numbers():
    policy = with_policy(quota={"memory_gib": 8})

    problems = refusal(configuration(mastodon={}, peertube={}), policy)

    assert problems == {"services": ["Mastodon and PeerTube need 13.67 GiB of memory; your plan allows 8 GiB"]}
    default_sizes = with_policy(Policy(), quota={"memory_gib": 8})
    assert refusal(configuration(mastodon={}, peertube={}), default_sizes) == {
        "services": ["Mastodon and PeerTube need 12 GiB of memory; your plan allows 8 GiB"]
    }


def test_every_exceeded_quota_is_named_with_its_numbers():
    policy = with_policy(Policy(), quota={"vms": 2, "cores": 6, "disk_gib": 100, "buckets": 1})

    problems = refusal(configuration(mastodon={}, peertube={}, pixelfed={}), policy)["services"]

    assert problems == [
        "Mastodon, PeerTube and Pixelfed need 3 VMs; your plan allows 2",
        "Mastodon, PeerTube and Pixelfed need 8 CPU cores; your plan allows 6",
        "Mastodon, PeerTube and Pixelfed need 140 GiB of disk; your plan allows 100 GiB",
        "Mastodon, PeerTube and Pixelfed need 3 buckets; your plan allows 1",
    ]


def test_an_operators_own_quota_replaces_the_default_field_by_field():
    policy = with_policy(Policy(), quota={"vms": 1, "memory_gib": 4}, operators={"acme": {"quota": {"vms": 3}}})

    assert refusal(configuration(mastodon={}, pixelfed={}), policy) == {
        "services": ["Mastodon and Pixelfed need 6 GiB of memory; your plan allows 4 GiB"]
    }
    assert plan_configuration("acme", configuration(mastodon={}), policy).resources


def test_services_sharing_a_vm_count_as_one_vm():
    policy = with_policy(Policy(), placement="combined", quota={"vms": 1})

    assert plan_configuration("acme", configuration(mastodon={}, pixelfed={}), policy).resources


def test_a_domain_outside_the_providers_parent_domains_is_refused_on_the_domain_field():
    policy = with_policy(allowed_parent_domains=["fedi.provider.example", "social.example"])

    assert refusal(configuration("acme.example", mastodon={}), policy) == {
        "domain": ["must be under fedi.provider.example or social.example, the domains this provider hosts "
                   "(for example acme.fedi.provider.example)"]
    }
    assert plan_configuration("acme", configuration("acme.social.example", mastodon={}), policy).resources
    assert "domain" in refusal(configuration("social.example", mastodon={}), policy)


def test_an_invalid_configuration_is_refused_with_a_problem_per_field():
    document = configuration(mastodon={})
    document["domain"] = "not a domain"
    document["initialUser"]["email"] = "nobody"

    with pytest.raises(InvalidConfiguration) as refused:
        validate(document)

    assert {problem.field for problem in refused.value.problems} == {"domain", "initialUser.email"}
    assert "initialUser.email" in str(refused.value)


def test_a_configuration_without_any_service_is_refused():
    with pytest.raises(InvalidConfiguration) as refused:
        validate(configuration())

    assert [problem.field for problem in refused.value.problems] == ["services"]


# -- changes -------------------------------------------------------------------------------------


def test_changes_say_what_is_created_updated_unchanged_and_deleted(mastodon_and_pixelfed):
    desired = plan(configuration(mastodon={"registrations": "open"}, peertube={}))

    found = actions(diff(list(mastodon_and_pixelfed.values()), list(desired.values())))

    assert found == {
        "acme/_/sshkey": "unchanged",
        "acme/_/dns/spf": "unchanged",
        "acme/_/dns/dmarc": "unchanged",
        **{f"acme/mastodon/{kind}": "unchanged" for kind in SERVICE_KINDS},
        "acme/mastodon/nixos": "update",
        **{f"acme/peertube/{kind}": "create" for kind in SERVICE_KINDS},
        **{f"acme/pixelfed/{kind}": "delete" for kind in SERVICE_KINDS},
    }


def test_an_update_says_what_changed(mastodon_and_pixelfed):
    desired = plan(configuration(mastodon={"registrations": "open"}, pixelfed={}))

    change = next(c for c in diff(list(mastodon_and_pixelfed.values()), list(desired.values())) if c.action == "update")

    assert (change.resource_id, change.reason) == ("acme/mastodon/nixos", "settings changed: mastodon.options.registrations")


def test_a_bigger_vm_is_updated_in_place_with_the_numbers(mastodon_and_pixelfed):
    bigger = with_policy(sizes={"mastodon": {"cores": 4, "memory_mib": 6000, "disk_gib": 50}})

    found = {c.resource_id: c for c in diff(list(mastodon_and_pixelfed.values()), list(plan(configuration(mastodon={}, pixelfed={}), policy=bigger).values()))}

    assert found["acme/mastodon/vm"].action == "update"
    assert found["acme/mastodon/vm"].reason == "cores from 3 to 4; memory from 5000 MiB to 6000 MiB; disk from 41 GiB to 50 GiB"
    assert found["acme/mastodon/nixos"].action == "update"


def test_a_vm_that_moves_node_is_replaced_saying_why_and_what_depends_on_it_follows(mastodon_and_pixelfed):
    moved = with_policy(proxmox={"nodes": [{"name": "pve7"}], "template": 9001})

    found = {c.resource_id: c for c in diff(list(mastodon_and_pixelfed.values()), list(plan(configuration(mastodon={}, pixelfed={}), policy=moved).values()))}

    vm = found["acme/mastodon/vm"]
    assert vm.action == "replace"
    assert vm.reason == "moves from the default node to node pve7", "a new template alone would not rebuild it"
    assert (vm.kind, vm.service, vm.spec["name"], vm.spec["node"]) == ("vm", "mastodon", "acme-mastodon", None)
    assert (found["acme/mastodon/dns/host"].action, found["acme/mastodon/dns/host"].reason) == ("update", "acme/mastodon/vm is replaced")
    assert found["acme/mastodon/nixos"].action == "update"
    assert found["acme/mastodon/bucket"].action == "unchanged"


def test_a_shrinking_disk_means_a_new_vm(mastodon_and_pixelfed):
    smaller = with_policy(sizes={"mastodon": {"cores": 3, "memory_mib": 5000, "disk_gib": 30}})

    vm = next(c for c in diff(list(mastodon_and_pixelfed.values()), list(plan(configuration(mastodon={}, pixelfed={}), policy=smaller).values())) if c.resource_id == "acme/mastodon/vm")

    assert (vm.action, vm.reason) == ("replace", "its disk shrinks from 41 to 30 GiB, which Proxmox cannot do in place")


def test_switching_to_an_assigned_bucket_replaces_the_bucket_and_keeps_the_old_ones_data(mastodon_and_pixelfed):
    assigned = with_policy(operators={"acme": {"buckets": {"mastodon": "acme-legacy-media"}}})

    bucket = next(c for c in diff(list(mastodon_and_pixelfed.values()), list(plan(configuration(mastodon={}, pixelfed={}), policy=assigned).values())) if c.resource_id == "acme/mastodon/bucket")

    assert bucket.action == "replace" and bucket.data == "keep"
    assert "bucket the provider assigned" in bucket.reason
    assert bucket.spec["name"] == "fedi-acme-mastodon"


def test_a_first_plan_creates_everything_and_gives_the_reason(mastodon_and_pixelfed):
    found = diff([], list(mastodon_and_pixelfed.values()))

    assert {change.action for change in found} == {"create"}
    assert [change.resource_id for change in found] == sorted(mastodon_and_pixelfed)
    assert all(change.reason for change in found)


def test_a_resubmitted_configuration_changes_nothing(mastodon_and_pixelfed):
    again = plan_configuration("acme", configuration(mastodon={}, pixelfed={}), POLICY, list(mastodon_and_pixelfed.values()))

    assert {change.action for change in again.changes} == {"unchanged"}
    assert again.effective == ()


def test_disabling_a_service_deletes_its_compute_records_and_accounts_and_keeps_its_data_by_default(mastodon_and_pixelfed):
    only_mastodon = plan_configuration("acme", configuration(mastodon={}), POLICY, list(mastodon_and_pixelfed.values()))

    deleted = {c.resource_id: c for c in only_mastodon.changes if c.action == "delete"}

    assert set(deleted) == {f"acme/pixelfed/{kind}" for kind in SERVICE_KINDS}
    assert {change.reason for change in deleted.values()} == {"Pixelfed is switched off"}
    assert deleted["acme/pixelfed/bucket"].data == "keep"
    assert deleted["acme/pixelfed/vm"].data == "keep", "the VM's disk holds the database: shut down, kept"
    assert all(c.data is None for rid, c in deleted.items() if not rid.endswith(("/bucket", "/vm")))
    vm = deleted["acme/pixelfed/vm"]
    assert (vm.kind, vm.service, vm.spec["name"]) == ("vm", "pixelfed", "acme-pixelfed")
    assert deleted["acme/pixelfed/dns/host"].spec["name"] == "pixelfed.example.org."


@pytest.mark.parametrize("choice", ["keep", "delete"])
def test_the_data_of_a_disabled_service_follows_the_operators_choice(mastodon_and_pixelfed, choice):
    document = configuration(mastodon={}) | {"pixelfed": {"enable": False, "dataOnDisable": choice}}

    changes = {c.resource_id: c for c in plan_configuration("acme", document, POLICY, list(mastodon_and_pixelfed.values())).changes}
    bucket = changes["acme/pixelfed/bucket"]

    assert (bucket.action, bucket.data) == ("delete", choice)
    assert (changes["acme/pixelfed/vm"].action, changes["acme/pixelfed/vm"].data) == ("delete", choice), "its database, on the VM's disk"
    assert bucket.spec == {"name": "fedi-acme-pixelfed", "quota_bytes": 3 * GIB, "quota_objects": None, "preconfigured": False}


def test_a_bucket_the_policy_drops_from_a_running_service_keeps_its_data(mastodon_and_pixelfed):
    no_buckets = with_policy(bucket_quota_gib={"mastodon": None})
    document = configuration(mastodon={"dataOnDisable": "delete"}, pixelfed={})

    bucket = next(c for c in plan_configuration("acme", document, no_buckets, list(mastodon_and_pixelfed.values())).changes if c.resource_id == "acme/mastodon/bucket")

    assert (bucket.action, bucket.data) == ("delete", "keep")
    assert bucket.reason == "no longer part of the plan (the provider's policy changed)"


def test_switching_dns_mail_and_keys_off_deletes_what_they_made(mastodon_and_pixelfed):
    found = actions(plan_configuration("acme", configuration(mastodon={}, pixelfed={}), OFF, list(mastodon_and_pixelfed.values())).changes)

    assert {rid for rid, action in found.items() if action == "delete"} == {
        "acme/_/sshkey", "acme/_/dns/spf", "acme/_/dns/dmarc", *(f"acme/{s}/{k}" for s in ("mastodon", "pixelfed") for k in ("mail", "dns/host"))
    }
    assert found["acme/mastodon/vm"] == "update"  # no deploy key to install any more


def test_what_an_unfinished_deployment_may_have_made_is_deleted_when_no_longer_wanted(mastodon_and_pixelfed):
    applied = list(plan(configuration(mastodon={})).values())
    attempted = list(mastodon_and_pixelfed.values())  # added Pixelfed, then failed

    found = {c.resource_id: c for c in plan_configuration("acme", configuration(mastodon={}), POLICY, applied, attempted).changes}

    assert {rid for rid, c in found.items() if c.action == "delete"} == {f"acme/pixelfed/{kind}" for kind in SERVICE_KINDS}
    assert found["acme/pixelfed/vm"].reason == "left by an unfinished deployment: Pixelfed is switched off"
    assert {c.action for rid, c in found.items() if "pixelfed" not in rid} == {"unchanged"}


def test_changes_are_byte_identical_for_the_same_input(mastodon_and_pixelfed):
    desired = list(plan(configuration(peertube={})).values())

    assert as_json(diff(list(mastodon_and_pixelfed.values()), desired, Intent())) == as_json(
        diff(list(reversed(list(mastodon_and_pixelfed.values()))), desired, Intent())
    )


# -- account removal ------------------------------------------------------------------------------


def test_removing_the_account_deletes_every_resource_and_its_data(mastodon_and_pixelfed):
    removal = plan_removal("acme", list(mastodon_and_pixelfed.values()))
    resources = [c for c in removal.changes if c.kind not in SWEEPS]

    assert removal.resources == ()
    assert actions(resources) == {rid: "delete" for rid in mastodon_and_pixelfed}
    assert {c.data for c in removal.changes if c.kind == "bucket"} == {"delete"}
    assert {c.reason for c in resources} == {"the operator's account is removed"}
    assert all(c.spec for c in resources)


def test_removing_the_account_also_removes_the_operators_directory_at_identity(mastodon_and_pixelfed):
    for applied in (list(mastodon_and_pixelfed.values()), []):  # a directory exists before anything is deployed
        [directory] = [c for c in plan_removal("acme", applied).changes if c.kind == "directory"]

        assert (directory.resource_id, directory.action, directory.service, directory.data) == ("acme/_/directory", "delete", "_", None)
        assert "directory, synced people and groups" in directory.reason


def test_removing_the_account_also_removes_whatever_else_storage_holds_for_the_operator(mastodon_and_pixelfed):
    for applied in (list(mastodon_and_pixelfed.values()), []):  # a bucket an interrupted deployment left has no plan
        [storage] = [c for c in plan_removal("acme", applied).changes if c.kind == "storage"]

        assert (storage.resource_id, storage.action, storage.service, storage.data) == ("acme/_/storage", "delete", "_", None)
        assert "every bucket and key storage still holds for it goes" in storage.reason
        assert "buckets the provider assigned go back to the provider" in storage.reason


def test_the_removal_record_names_each_removed_resource(mastodon_and_pixelfed):
    items = {item["resource_id"]: item for item in removed_items(plan_removal("acme", list(mastodon_and_pixelfed.values())))}

    assert items["acme/mastodon/vm"] == {"resource_id": "acme/mastodon/vm", "kind": "vm", "service": "mastodon", "data": "delete", "name": "acme-mastodon"}
    assert items["acme/pixelfed/bucket"]["data"] == "delete"
    assert items["acme/pixelfed/account"]["name"] == "alice"


# -- a policy's impact -----------------------------------------------------------------------------


def test_a_new_template_rebuilds_no_running_vm_and_a_smaller_quota_names_who_no_longer_fits():
    operators = []
    for operator, document in (("acme", configuration(mastodon={}, pixelfed={})), ("globex", configuration("globex.example", peertube={}))):
        operators.append((operator, document, plan_configuration(operator, document, POLICY).resources))
    new = with_policy(proxmox={"template": 9002}, operators={"globex": {"quota": {"memory_gib": 4}}})

    impacts = policy_impact(new, reversed(operators))

    assert [impact.operator for impact in impacts] == ["acme", "globex"]
    vms = {c.resource_id: c for c in impacts[0].changes if c.kind == "vm"}
    assert {rid: c.action for rid, c in vms.items()} == {"acme/mastodon/vm": "update", "acme/pixelfed/vm": "update"}
    assert vms["acme/mastodon/vm"].reason == "machines made from now on start from template 9002; this one stays as it is"
    assert {c.kind for c in impacts[0].changes} == {"vm"}, "its disk holds the database: nothing is rebuilt"
    assert [p.message for p in impacts[1].problems] == ["PeerTube needs 8.79 GiB of memory; your plan allows 4 GiB"]
    assert policy_impact(POLICY, operators)[0].changes == ()


def test_a_new_release_updates_every_nixos_in_place_and_new_sizes_resize_the_vms():
    document = configuration(mastodon={}, pixelfed={})
    applied = plan_configuration("acme", document, POLICY).resources
    bigger = POLICY.sizes.mastodon.model_dump() | {"memory_mib": 6000}
    new = with_policy(release="25.05", sizes=POLICY.sizes.model_dump() | {"mastodon": bigger})

    [impact] = policy_impact(new, [("acme", document, applied)])

    changes = {c.resource_id: (c.action, c.reason) for c in impact.changes}
    assert changes == {
        "acme/mastodon/vm": ("update", "memory from 5000 MiB to 6000 MiB"),
        "acme/mastodon/nixos": ("update", "settings changed: release, vm.memoryMiB"),
        "acme/pixelfed/nixos": ("update", "settings changed: release"),
    }
