"""The configurator's planning: an operator's choices become concrete resources, and changes."""

import pytest
from pydantic import TypeAdapter

from contracts.resources import Resource
from services.configurator.domain.planning import InvalidConfiguration, changes, plan_resources, validate
from services.configurator.domain.policy import Policy, VmSize

POLICY = Policy(
    sizes={
        "mastodon": VmSize(cores=3, memory_mib=5000, disk_gib=41),
        "peertube": VmSize(cores=5, memory_mib=9000, disk_gib=61),
        "pixelfed": VmSize(cores=1, memory_mib=3000, disk_gib=21),
    },
    bucket_quota_gib={"mastodon": 7, "peertube": 9, "pixelfed": 3},
)
GIB = 1024**3
KINDS = ("vm", "account", "bucket", "nixos")


def configuration(**services) -> dict:
    return {
        "domain": "example.org",
        "initialUser": {"username": "alice", "displayName": "Alice Example", "email": "alice@example.org"},
        **{name: {"enable": True, **options} for name, options in services.items()},
    }


def plan(document: dict, operator: str = "acme", policy: Policy = POLICY) -> dict[str, Resource]:
    return {resource.id: resource for resource in plan_resources(operator, validate(document), policy)}


def as_json(resources) -> bytes:
    return TypeAdapter(list[Resource]).dump_json(list(resources))


@pytest.fixture
def mastodon_and_pixelfed() -> dict[str, Resource]:
    return plan(configuration(mastodon={}, pixelfed={}))


def test_each_enabled_service_gets_a_vm_an_account_a_bucket_and_its_nixos(mastodon_and_pixelfed):
    assert sorted(mastodon_and_pixelfed) == sorted(
        f"acme/{service}/{kind}" for service in ("mastodon", "pixelfed") for kind in KINDS
    )
    for rid, resource in mastodon_and_pixelfed.items():
        _, service, kind = rid.split("/")
        assert (resource.service, resource.kind) == (service, kind)


def test_a_disabled_service_gets_nothing(mastodon_and_pixelfed):
    assert not any(resource.service == "peertube" for resource in mastodon_and_pixelfed.values())


def test_names_are_derived_from_the_operator_and_the_service(mastodon_and_pixelfed):
    assert mastodon_and_pixelfed["acme/mastodon/vm"].spec.name == "acme-mastodon"
    assert mastodon_and_pixelfed["acme/pixelfed/bucket"].spec.name == "fedi-acme-pixelfed"
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


def test_nixos_is_deployed_only_after_its_vm_account_and_bucket_exist(mastodon_and_pixelfed):
    for service in ("mastodon", "pixelfed"):
        nixos = mastodon_and_pixelfed[f"acme/{service}/nixos"]
        assert set(nixos.depends_on) == {f"acme/{service}/{kind}" for kind in ("vm", "account", "bucket")}
        assert nixos.spec.vm == f"acme/{service}/vm"
    assert all(not resource.depends_on for resource in mastodon_and_pixelfed.values() if resource.kind != "nixos")


def test_a_service_without_a_bucket_quota_gets_no_bucket():
    policy = Policy(sizes=POLICY.sizes, bucket_quota_gib={})

    assert "acme/mastodon/bucket" not in plan(configuration(mastodon={}), policy=policy)
    assert set(plan(configuration(mastodon={}), policy=policy)["acme/mastodon/nixos"].depends_on) == {
        "acme/mastodon/vm",
        "acme/mastodon/account",
    }


def test_the_same_configuration_gives_a_byte_identical_plan():
    document = configuration(mastodon={"registrations": "open"}, pixelfed={"maxPhotoMib": 20})

    first = plan_resources("acme", validate(document), POLICY)
    second = plan_resources("acme", validate(dict(reversed(list(document.items())))), Policy(**vars(POLICY)))

    assert as_json(first) == as_json(second)


# -- changes ---------------------------------------------------------------------------------------


def test_changes_say_what_is_created_updated_unchanged_and_deleted(mastodon_and_pixelfed):
    desired = plan(configuration(mastodon={"registrations": "open"}, peertube={}))

    actions = {change.resource_id: change.action for change in changes(list(mastodon_and_pixelfed.values()), list(desired.values()))}

    assert actions == {
        "acme/mastodon/vm": "unchanged",
        "acme/mastodon/account": "unchanged",
        "acme/mastodon/bucket": "unchanged",
        "acme/mastodon/nixos": "update",
        **{f"acme/peertube/{kind}": "create" for kind in KINDS},
        **{f"acme/pixelfed/{kind}": "delete" for kind in KINDS},
    }


def test_a_first_plan_creates_everything_and_gives_the_reason(mastodon_and_pixelfed):
    found = changes([], list(mastodon_and_pixelfed.values()))

    assert {change.action for change in found} == {"create"}
    assert [change.resource_id for change in found] == sorted(mastodon_and_pixelfed)
    assert all(change.reason for change in found)


def test_a_resubmitted_configuration_changes_nothing(mastodon_and_pixelfed):
    again = plan(configuration(mastodon={}, pixelfed={}))

    assert {change.action for change in changes(list(mastodon_and_pixelfed.values()), list(again.values()))} == {"unchanged"}


def test_disabling_a_service_deletes_its_resources_saying_why(mastodon_and_pixelfed):
    only_mastodon = plan(configuration(mastodon={}))

    deleted = [change for change in changes(list(mastodon_and_pixelfed.values()), list(only_mastodon.values())) if change.action == "delete"]

    assert {change.resource_id for change in deleted} == {f"acme/pixelfed/{kind}" for kind in KINDS}
    assert {change.reason for change in deleted} == {"service disabled"}


# -- refusing --------------------------------------------------------------------------------------


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
