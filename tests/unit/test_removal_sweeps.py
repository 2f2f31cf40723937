"""An account removal ends with three sweeps beyond what its plan knows: identity's directory, the
rest of storage and every other machine on Proxmox. Which names storage counts as the operator's, the
order the orchestrator runs the sweeps in, and how their reports read in the removal's step and on
the plan's review page."""

from contracts.events import ProviderBucket, RemovedBucket, RemovedKey, StorageRemoved
from services.configurator.domain.planning import plan_resources, validate
from services.configurator.domain.plans import SWEEPS, plan_removal
from services.configurator.domain.policy import Policy
from services.orchestrator.domain.plan import planned_steps
from services.orchestrator.handlers import storage_report
from services.panel.domain.wording import describe_plan
from services.storage.domain import operators_names

CONFIGURATION = {
    "domain": "acme.example",
    "initialUser": {"username": "alice", "displayName": "Alice", "email": "alice@acme.example"},
    "mastodon": {"enable": True},
    "pixelfed": {"enable": True},
}


def removal_of_mastodon_and_pixelfed():
    applied = plan_resources("acme", validate(CONFIGURATION), Policy())
    return plan_removal("acme", applied)


SWEEP_STEPS = {f"acme/_/{kind}" for kind in SWEEPS}


def report(**fields) -> StorageRemoved:
    return StorageRemoved(correlation_id="rm-1", operator_id="acme", producer="storage", deployment_id="rm-1",
                          resource_id="acme/_/storage", **fields)


def test_storage_removes_what_it_holds_for_the_operator_only_after_every_planned_deletion():
    steps = {step.resource_id: step for step in planned_steps([], removal_of_mastodon_and_pixelfed().changes)}
    storage = steps["acme/_/storage"]

    assert (storage.kind, storage.action) == ("storage", "delete")
    buckets = {rid for rid, step in steps.items() if step.kind == "bucket"}
    assert buckets == {"acme/mastodon/bucket", "acme/pixelfed/bucket"}
    assert buckets <= set(storage.depends_on), "after the planned buckets went"
    assert set(storage.depends_on) == set(steps) - SWEEP_STEPS
    assert not SWEEP_STEPS & {d for sweep in SWEEP_STEPS for d in steps[sweep].depends_on}, "the sweeps run side by side"


def test_every_other_machine_of_the_operator_is_swept_only_after_every_planned_deletion():
    steps = {step.resource_id: step for step in planned_steps([], removal_of_mastodon_and_pixelfed().changes)}
    machines = steps["acme/_/machines"]

    assert (machines.kind, machines.service, machines.action, machines.data) == ("machines", "_", "delete", None)
    assert {"acme/mastodon/vm", "acme/pixelfed/vm"} <= set(machines.depends_on), "after the planned VMs went"
    assert set(machines.depends_on) == set(steps) - SWEEP_STEPS
    [change] = [c for c in removal_of_mastodon_and_pixelfed().changes if c.kind == "machines"]
    assert change.reason.endswith("every machine still tagged as its own goes with its disks, kept and replaced ones included")


def test_the_operators_names_are_the_configurators_bucket_names_and_storages_keys_for_them():
    acme = operators_names("acme", recorded={"acme-old-media"}, spared={"fedi-acme-photos"})

    assert all(acme(name) for name in ("fedi-acme-mastodon", "fedi-acme-peertube.cleaner", "acme-old-media", "acme-old-media.cleaner"))
    assert not acme("fedi-acme-corp-mastodon"), "operator acme-corp's, not acme's"
    assert not any(acme(name) for name in ("fedi-acme-", "fedi-acmeco-mastodon", "provider-acme", "fedi-acme-photos"))
    assert operators_names("acme-corp")("fedi-acme-corp-mastodon")


def test_storages_report_names_each_bucket_and_counts_the_keys_in_the_step():
    words = storage_report(report(
        buckets=(RemovedBucket(name="fedi-acme-mastodon", objects=4, bytes=4096), RemovedBucket(name="fedi-acme-peertube", objects=0, bytes=0)),
        keys=(RemovedKey(access_key_id="GK1", name="fedi-acme-mastodon"), RemovedKey(access_key_id="GK2", name="fedi-acme-peertube")),
        provider_buckets=(ProviderBucket(name="shelf", access_key_id="GK9", access_revoked=True),
                          ProviderBucket(name="elsewhere", access_key_id="AKIA1", access_revoked=False)),
    ))

    assert words == ("removed buckets fedi-acme-mastodon (4 objects, 4096 bytes), fedi-acme-peertube (0 objects, 0 bytes) and 2 access keys"
                     "; the provider's bucket shelf stays with the provider, its key's access revoked"
                     "; the provider's bucket elsewhere stays with the provider, the provider must revoke key AKIA1")
    assert storage_report(report()) == "nothing else was left to remove"


def test_the_review_page_says_what_the_storage_and_machine_sweeps_remove_kept_data_included():
    [everyone] = [plan for plan in describe_plan(removal_of_mastodon_and_pixelfed().changes) if plan.service == "_"]

    swept = [line for line in everyone.lines if "bucket" in line.text or "machine" in line.text]
    assert {(line.action, line.data) for line in swept} == {("delete", "deleted")}
    assert [line.text for line in swept] == [
        "Every other bucket and access key kept for you is removed with its media; buckets your provider assigned to you go back to them",
        "Every machine of yours that is still there is deleted with its disk, including machines kept shut down "
        "with their data (switched off or replaced): their databases are gone for good",
    ]
