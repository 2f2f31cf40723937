"""The contracts every service shares: generated documents, the codec, the envelope."""

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts import CATALOGUE, MalformedMessage, codec, decode, documents, encode
from contracts.commands import (
    AccountDeletionRequested,
    AccountRequested,
    BucketDeletionRequested,
    BucketRequested,
    DirectoryRemovalRequested,
    DirectorySyncRequested,
    OperatorRemovalRequested,
    SshKeyDeletionRequested,
    SshKeyRequested,
    StorageRemovalRequested,
)
from contracts.directory import DirectoryParameters, MissingGroup
from contracts.events import (
    DirectoryConnected,
    DirectoryRemoved,
    DirectorySyncCompleted,
    DirectorySyncFailed,
    AccountCreated,
    AccountDeleted,
    AccountFailed,
    BucketCreated,
    BucketDeleted,
    BucketFailed,
    BucketUsageReported,
    DeploymentCancelled,
    DnsUpdated,
    NotRemoved,
    ProviderBucket,
    RemovedBucket,
    RemovedKey,
    SshKeyCreated,
    SshKeyDeleted,
    StorageRemoved,
    VmDeleted,
    VmUpdated,
    ConfigRejected,
    ConfigSubmitted,
    DeploymentFailed,
    DeploymentProgress,
    DeploymentStarted,
    DeploymentSucceeded,
    NixosDeployed,
    PlanCreated,
    VmProvisioned,
)
from contracts.fleet import (
    CampaignChoiceRefused,
    CampaignControlRequested,
    CampaignOperatorCompleted,
    CampaignOperatorFailed,
    CampaignOperatorNotified,
    CampaignOperatorRolledBack,
    CampaignOperatorStarted,
    CampaignRefused,
    CampaignRequested,
    CampaignScheduled,
    CampaignStateChanged,
    CampaignWaveStarted,
    MaintenanceChoice,
    MaintenanceWindowChosen,
    OperatorImpactSummary,
    WeeklyWindow,
)
from contracts.resources import Change, Problem, VmResource, VmSpec

ENVELOPE = {"correlation_id": "dep-1", "operator_id": "acme", "producer": "test"}
CONFIGURATION = {
    "domain": "example.org",
    "initialUser": {"username": "alice", "displayName": "Alice", "email": "alice@example.org"},
    "mastodon": {"enable": True},
}
STEP = {"deployment_id": "dep-1", "resource_id": "acme/mastodon/vm"}

EXAMPLES = {
    ConfigSubmitted: dict(revision=1, configuration=CONFIGURATION),
    ConfigRejected: dict(revision=1, problems=(Problem(field="domain", message="bad"),)),
    PlanCreated: dict(
        deployment_id="dep-1",
        revision=1,
        domain="example.org",
        resources=(
            VmResource(
                id="acme/mastodon/vm",
                service="mastodon",
                spec=VmSpec(name="acme-mastodon", cores=2, memory_mib=4096, disk_gib=40, tags=("fedi",)),
            ),
        ),
        changes=(Change(resource_id="acme/mastodon/vm", action="create", reason="new"),),
    ),
    DeploymentStarted: dict(deployment_id="dep-1", revision=1, total_steps=4),
    DeploymentProgress: dict(
        deployment_id="dep-1", step="acme/mastodon/vm", step_kind="vm", state="running", done=0, total=4, eta_seconds=12.5
    ),
    DeploymentSucceeded: dict(deployment_id="dep-1", revision=1, duration_seconds=3.5, urls={"mastodon": "https://m.example.org"}),
    DeploymentFailed: dict(deployment_id="dep-1", revision=1, failed_step=None, reason="no capacity"),
    VmProvisioned: dict(**STEP, node="pve", vmid=101, name="acme-mastodon", address="10.0.0.2", cores=2, memory_mib=4096, disk_gib=40),
    BucketRequested: dict(**STEP, bucket="fedi-acme-mastodon", quota_bytes=10, preconfigured=True),
    BucketCreated: dict(
        **STEP, bucket="fedi-acme-mastodon", endpoint="http://s3", region="garage", access_key_id="GK1", secret_ref="secret://storage/1"
    ),
    BucketFailed: dict(**STEP, reason="quota refused"),
    AccountRequested: dict(**STEP, service="mastodon", username="alice", email="alice@example.org", display_name="Alice"),
    AccountCreated: dict(**STEP, service="mastodon", username="alice", secret_ref="secret://identity/1"),
    AccountFailed: dict(**STEP, reason="taken"),
    NixosDeployed: dict(**STEP, vm_name="acme-mastodon", address="10.0.0.2", config_hash="ab" * 32),
    VmUpdated: dict(**STEP, node="pve", vmid=101, changed=("cores",), rebooted=True),
    VmDeleted: dict(**STEP, node="pve", vmid=101),
    DnsUpdated: dict(**STEP, name="mastodon.example.org.", record_type="A", content=("10.0.0.2",)),
    DeploymentCancelled: dict(deployment_id="dep-1", revision=2, reason="superseded by revision 3"),
    BucketDeletionRequested: dict(**STEP, bucket="fedi-acme-mastodon", keep_data=True),
    BucketDeleted: dict(**STEP, bucket="fedi-acme-mastodon", data_kept=True),
    BucketUsageReported: dict(bucket="fedi-acme-mastodon", bytes=1024, objects=3, quota_bytes=4096, quota_objects=10),
    AccountDeletionRequested: dict(**STEP, service="mastodon", username="alice"),
    AccountDeleted: dict(**STEP, service="mastodon", username="alice"),
    SshKeyRequested: dict(**STEP, name="acme-deploy"),
    SshKeyCreated: dict(**STEP, public_key="ssh-ed25519 AAAA", secret_ref="secret://identity/2"),
    SshKeyDeletionRequested: dict(**STEP, name="acme-deploy"),
    SshKeyDeleted: dict(**STEP),
    OperatorRemovalRequested: dict(reason="closing the account"),
    DirectoryConnected: dict(
        parameters=DirectoryParameters(
            url="ldaps://ldap.example.org", bind_dn="cn=reader,dc=example,dc=org", base_dn="dc=example,dc=org",
            mapping={"staff": {"mastodon": "moderators"}},
        ),
        users=12,
        groups=3,
    ),
    DirectorySyncRequested: dict(),
    DirectorySyncCompleted: dict(
        trigger="schedule", users_total=12, users_added=2, users_updated=1, users_removed=1,
        memberships_added=3, memberships_removed=1, duration_seconds=0.4,
        missing_groups=(MissingGroup(group="it", roles_lost={"mastodon": {"admins": 1}}, message="the mapped group 'it' was not found"),),
    ),
    DirectorySyncFailed: dict(trigger="demand", problem="bad_credentials", reason="the directory refused the bind DN and password"),
    DirectoryRemovalRequested: dict(deployment_id="dep-9"),
    DirectoryRemoved: dict(
        deployment_id="dep-9", entries_removed=14, accounts_removed=3, ssh_keys_removed=1, secrets_removed=5, external_link_removed=True
    ),
    StorageRemovalRequested: dict(deployment_id="dep-9", resource_id="acme/_/storage"),
    StorageRemoved: dict(
        deployment_id="dep-9", resource_id="acme/_/storage",
        buckets=(RemovedBucket(name="fedi-acme-mastodon", objects=3, bytes=2048),),
        keys=(RemovedKey(access_key_id="GK1", name="fedi-acme-mastodon"),),
        provider_buckets=(ProviderBucket(name="provider-acme-media", access_key_id="GK2", access_revoked=True),),
        not_removed=(NotRemoved(name="fedi-acme-pixelfed", reason="Garage refused: 409 BucketNotEmpty"),),
    ),
    CampaignRequested: dict(
        title="Fediversity 25.05", reason="Security fixes in Mastodon.", category="security", policy_changes={"release": "25.05"},
        notice_days=7, deadline=datetime(2027, 1, 15, tzinfo=UTC), requested_by="staff@provider.example",
    ),
    CampaignControlRequested: dict(campaign_id="camp-1", action="pause", requested_by="staff@provider.example"),
    MaintenanceWindowChosen: dict(
        choice=MaintenanceChoice(kind="window", window=WeeklyWindow(day="sunday", start="02:00", duration_minutes=240, timezone="Europe/Amsterdam"))
    ),
    CampaignScheduled: dict(
        campaign_id="camp-1", title="Fediversity 25.05", reason="Security fixes.", category="security", requested_by="staff@provider.example",
        earliest_start=datetime(2027, 1, 8, tzinfo=UTC), deadline=datetime(2027, 1, 15, tzinfo=UTC),
        affected=(OperatorImpactSummary(operator_id="acme", changes=("Mastodon: NixOS updated",), downtime_minutes=2),),
        unaffected=3, waves=(1,),
    ),
    CampaignRefused: dict(campaign_id="camp-1", problems=("sizes.mastodon.cores: must be at least 1",)),
    CampaignOperatorNotified: dict(
        campaign_id="camp-1", notice="notice", title="Fediversity 25.05", reason="Security fixes.", category="security",
        changes=("Mastodon: NixOS updated",), downtime_minutes=2, deadline=datetime(2027, 1, 15, tzinfo=UTC),
        defer_limit=datetime(2027, 1, 15, tzinfo=UTC),
        window=WeeklyWindow(day="sunday", start="02:00", duration_minutes=240, timezone="Europe/Amsterdam"), planned_start=None,
    ),
    CampaignChoiceRefused: dict(campaign_id="camp-1", reason="a security update cannot be deferred past 2027-01-15"),
    CampaignOperatorStarted: dict(campaign_id="camp-1", deployment_id="dep-2", wave=0, trigger="window"),
    CampaignOperatorCompleted: dict(campaign_id="camp-1", deployment_id="dep-2", outcome="updated"),
    CampaignOperatorFailed: dict(campaign_id="camp-1", deployment_id="dep-2", reason="acme/mastodon/vm: VM is locked"),
    CampaignOperatorRolledBack: dict(campaign_id="camp-1", deployment_id="dep-3", ok=True),
    CampaignWaveStarted: dict(campaign_id="camp-1", wave=1, operators=("acme", "globex")),
    CampaignStateChanged: dict(campaign_id="camp-1", state="halted", reason="2 of 5 failed in wave 1 (threshold 20%)"),
}


def submitted(**overrides) -> ConfigSubmitted:
    return ConfigSubmitted(**(ENVELOPE | EXAMPLES[ConfigSubmitted] | overrides))


def raw_submitted(**overrides) -> bytes:
    return json.dumps(json.loads(encode(submitted())) | overrides).encode()


def reason_of(data: bytes) -> str:
    with pytest.raises(MalformedMessage) as refused:
        decode(data)
    return str(refused.value)


# -- generated documents ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(documents.expected_files()), ids=lambda path: path.name)
def test_the_checked_in_documents_match_the_contracts(path):
    expected = documents.expected_files()[path]
    assert path.exists() and path.read_text() == expected, (
        f"{path.name} is stale: regenerate it with `python -m contracts.documents` and commit the result"
    )


# -- round trips -----------------------------------------------------------------------------------


def test_every_catalogued_message_has_an_example_here():
    assert {entry.model for entry in CATALOGUE} == set(EXAMPLES)


@pytest.mark.parametrize("model", [entry.model for entry in CATALOGUE], ids=lambda model: model.subject())
def test_every_catalogued_message_survives_encoding_and_decoding(model):
    message = model(**ENVELOPE, **EXAMPLES[model])

    decoded = decode(encode(message))

    assert type(decoded) is model
    assert decoded == message
    assert decoded.type == model.subject() and decoded.version == model.current_version()


def test_a_caused_message_carries_the_correlation_and_operator_and_names_its_cause():
    cause = submitted(correlation_id="dep-42", operator_id="acme")

    effect = cause.caused(ConfigRejected, "configurator", revision=1, problems=())

    assert effect.correlation_id == "dep-42"
    assert effect.operator_id == "acme"
    assert effect.causation_id == str(cause.event_id)
    assert effect.producer == "configurator"
    assert effect.event_id != cause.event_id


def test_messages_cannot_be_changed_after_they_are_made():
    message = submitted()

    with pytest.raises(ValidationError):
        message.revision = 2


def test_a_message_with_fields_nobody_declared_is_refused():
    assert "extra" in reason_of(raw_submitted(surprise=1)).lower()


# -- refusing what cannot be read ------------------------------------------------------------------


def test_bytes_that_are_not_json_are_malformed():
    assert "not JSON" in reason_of(b"\xff definitely not json")


def test_json_that_is_not_an_object_is_malformed():
    assert "not a JSON object" in reason_of(b"[1, 2, 3]")


def test_a_message_of_an_unknown_type_is_malformed_and_the_type_is_named():
    assert "unknown message type 'config.exploded'" in reason_of(raw_submitted(type="config.exploded"))


def test_a_message_whose_type_is_not_even_a_string_is_malformed():
    assert "unknown message type" in reason_of(raw_submitted(type=["config.submitted"]))


def test_a_message_missing_a_field_is_malformed_and_the_field_is_named():
    raw = json.loads(encode(submitted()))
    del raw["revision"]

    reason = reason_of(json.dumps(raw).encode())

    assert "config.submitted" in reason
    assert "revision" in reason and "required" in reason.lower()


def test_a_message_from_a_newer_version_than_this_code_knows_is_refused():
    assert "unsupported version 2" in reason_of(raw_submitted(version=2))


def test_a_message_without_a_version_is_refused():
    raw = json.loads(encode(submitted()))
    del raw["version"]

    assert "unsupported version None" in reason_of(json.dumps(raw).encode())


# -- old versions ----------------------------------------------------------------------------------


def version_0_of_config_submitted() -> bytes:
    """What an older panel sent: version 0 had no revision number yet."""
    raw = json.loads(encode(submitted(event_id=uuid4())))
    del raw["revision"]
    return json.dumps(raw | {"version": 0}).encode()


def test_an_old_version_is_upcast_to_the_current_one_when_an_upcaster_is_registered(monkeypatch):
    monkeypatch.setitem(codec.UPCASTERS, ("config.submitted", 0), lambda raw: raw | {"revision": 1})

    message = decode(version_0_of_config_submitted())

    assert isinstance(message, ConfigSubmitted)
    assert message.version == ConfigSubmitted.current_version()
    assert message.revision == 1
    assert message.configuration == CONFIGURATION


def test_an_old_version_without_an_upcaster_is_refused_saying_which_upcaster_is_missing(monkeypatch):
    monkeypatch.delitem(codec.UPCASTERS, ("config.submitted", 0), raising=False)

    assert "no upcaster from version 0 of config.submitted" in reason_of(version_0_of_config_submitted())
