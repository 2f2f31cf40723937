"""Planning, for configurations and policies hypothesis makes up: every valid configuration plans,
every invalid one is refused with field-level reasons, nothing else is ever raised, and the plans
keep their promises (stable ids, complete dependencies, determinism, data kept unless chosen)."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from contracts.configuration import SERVICES, OperatorConfiguration
from contracts.resources import Change, Resource
from services.configurator.domain.planning import InvalidConfiguration
from services.configurator.domain.plans import SWEEPS, plan_configuration, plan_removal
from services.configurator.domain.policy import Policy

PROPERTIES = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = {"vm", "bucket", "account", "mail", "sshkey", "dns", "nixos"}

LOWER, DIGITS = "abcdefghijklmnopqrstuvwxyz", "0123456789"
label = st.builds(str.__add__, st.sampled_from(LOWER), st.text(LOWER + DIGITS, min_size=1, max_size=10))
valid_domain = st.builds(".".join, st.lists(label, min_size=2, max_size=4))
operator_ids = st.builds(lambda a, b, c: a + b + c, st.sampled_from(LOWER), st.text(LOWER + DIGITS + "-", min_size=1, max_size=12), st.sampled_from(LOWER + DIGITS))
anything = st.one_of(st.none(), st.booleans(), st.integers(-5, 200), st.text(max_size=12), st.lists(st.integers(), max_size=2))


def _valid(document: dict) -> bool:
    try:
        OperatorConfiguration.model_validate(document)
    except ValidationError:
        return False
    return True


def maybe(valid, invalid=anything):
    """Mostly valid values, sometimes anything at all."""
    return st.one_of(valid, valid, valid, invalid)


initial_users = st.fixed_dictionaries(
    {
        "username": maybe(st.builds(str.__add__, st.sampled_from(LOWER), st.text(LOWER + DIGITS + "_", min_size=1, max_size=20))),
        "displayName": maybe(st.text(min_size=1, max_size=30).filter(str.strip)),
        "email": maybe(st.builds(lambda user, domain: f"{user}@{domain}", label, valid_domain)),
    }
)
data_choice = maybe(st.sampled_from(["keep", "delete"]))
VALID_OPTIONS = {
    "mastodon": {"singleUserMode": st.booleans(), "registrations": st.sampled_from(["open", "approval", "closed"])},
    "peertube": {"transcoding": st.booleans(), "maxUploadGib": st.integers(1, 64)},
    "pixelfed": {"registrations": st.booleans(), "maxPhotoMib": st.integers(1, 100)},
}
service_options = {name: {key: maybe(strategy) for key, strategy in options.items()} for name, options in VALID_OPTIONS.items()}


def service_section(name: str):
    return st.fixed_dictionaries(
        {"enable": maybe(st.booleans())},
        optional={**service_options[name], "dataOnDisable": data_choice},
    )


documents = st.fixed_dictionaries(
    {"domain": maybe(valid_domain), "initialUser": maybe(initial_users)},
    optional={**{name: service_section(name) for name in SERVICES}, "surprise": anything},
)
valid_documents = st.builds(
    lambda domain, enabled, sections: {
        "domain": domain,
        "initialUser": {"username": "alice", "displayName": "Alice", "email": "alice@example.org"},
        **{name: sections[name] | {"enable": name in enabled} for name in SERVICES},
    },
    valid_domain,
    st.sets(st.sampled_from(SERVICES), min_size=1),
    st.fixed_dictionaries(
        {
            name: st.fixed_dictionaries(
                {"dataOnDisable": st.sampled_from(["keep", "delete"])},
                optional={key: strategy for key, strategy in VALID_OPTIONS[name].items()},
            )
            for name in SERVICES
        }
    ),
)


policies = st.builds(
    lambda placement, dns, mail, keys, quota, nodes, assigned: Policy.model_validate(
        {
            "placement": placement,
            "dns": {"enabled": dns},
            "mail_relay": {"enabled": mail, "mx": ["mx.provider.example"]},
            "ssh_keys": {"enabled": keys},
            "quota": quota,
            "proxmox": {"nodes": [{"name": f"pve{i}"} for i in range(nodes)]},
            "operators": {"acme": {"buckets": assigned}},
        }
    ),
    st.sampled_from(["per_service", "combined"]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.fixed_dictionaries({}, optional={"vms": st.integers(0, 3), "memory_gib": st.integers(0, 16), "buckets": st.integers(0, 3)}),
    st.integers(0, 3),
    st.sets(st.sampled_from(SERVICES), max_size=2).map(lambda services: {s: f"assigned-{s}" for s in sorted(services)}),
)
unlimited = policies.map(lambda p: p.model_copy(update={"quota": Policy().quota}))


def as_json(items) -> bytes:
    return TypeAdapter(list[Resource | Change]).dump_json(list(items))


@PROPERTIES
@given(operator=operator_ids, document=documents, policy=policies)
def test_any_configuration_is_either_planned_or_refused_with_field_level_reasons(operator, document, policy):
    try:
        plan = plan_configuration(operator, document, policy)
    except InvalidConfiguration as refused:
        assert refused.problems
        for problem in refused.problems:
            assert problem.field and problem.message
            assert problem.field.split(".")[0] in {"domain", "initialUser", "services", "surprise", *SERVICES}
        if not _valid(document):
            return
        assert {problem.field for problem in refused.problems} <= {"services", "domain"}, "only the policy refuses a valid form"
        return
    assert _valid(document), "an invalid form was planned"
    assert plan.resources


@PROPERTIES
@given(document=documents)
def test_an_invalid_form_is_refused_naming_the_same_fields_pydantic_does(document):
    try:
        OperatorConfiguration.model_validate(document)
    except ValidationError as exc:
        expected = {".".join(str(part) for part in error["loc"]) or "services" for error in exc.errors()}
        try:
            plan_configuration("acme", document, Policy())
        except InvalidConfiguration as refused:
            assert {problem.field for problem in refused.problems} == expected
        else:
            raise AssertionError("an invalid form was planned")


@PROPERTIES
@given(operator=operator_ids, document=valid_documents, policy=unlimited)
def test_every_valid_configuration_plans_with_stable_ids_and_complete_dependencies(operator, document, policy):
    plan = plan_configuration(operator, document, policy)

    ids = [resource.id for resource in plan.resources]
    assert len(ids) == len(set(ids))
    for resource in plan.resources:
        owner, service, kind, *role = resource.id.split("/")
        assert (owner, service, kind) == (operator, resource.service, resource.kind)
        assert kind in KINDS and len(role) <= 1
        assert set(resource.depends_on) <= set(ids[: ids.index(resource.id)]), "dependencies come first"
        if resource.kind == "dns" and resource.spec.address_of:
            assert resource.spec.address_of in resource.depends_on
    nixos = [r for r in plan.resources if r.kind == "nixos"]
    assert {s for r in nixos for s in SERVICES if r.spec.config["fediversity"][s]["enable"]} == set(plan.configuration.enabled_services())
    assert all(json.loads(json.dumps(r.spec.config)) == r.spec.config for r in nixos)
    assert {c.action for c in plan.changes} == {"create"}


@PROPERTIES
@given(document=valid_documents, policy=unlimited)
def test_the_same_input_gives_byte_identical_plans_and_a_replan_changes_nothing(document, policy):
    first = plan_configuration("acme", document, policy)
    second = plan_configuration("acme", json.loads(json.dumps(document)), Policy.model_validate(policy.model_dump(mode="json")))
    assert as_json(first.resources) == as_json(second.resources)
    assert as_json(first.changes) == as_json(second.changes)

    again = plan_configuration("acme", document, policy, first.resources)

    assert {change.action for change in again.changes} == {"unchanged"}


@PROPERTIES
@given(before=valid_documents, after=valid_documents, policy=unlimited)
def test_going_from_one_configuration_to_another_deletes_what_is_gone_and_data_only_when_chosen(before, after, policy):
    applied = plan_configuration("acme", before, policy).resources
    plan = plan_configuration("acme", after, policy, applied)

    by_id = {change.resource_id: change for change in plan.changes}
    assert set(by_id) == {r.id for r in applied} | {r.id for r in plan.resources}
    for resource in applied:
        change = by_id[resource.id]
        if resource.id not in {r.id for r in plan.resources}:
            assert change.action == "delete" and change.spec == resource.spec.model_dump(mode="json")
        if resource.kind == "bucket" and change.action in ("delete", "replace"):
            switched_off = not after[resource.service]["enable"]
            chose_delete = after[resource.service]["dataOnDisable"] == "delete"
            assert change.data == ("delete" if change.action == "delete" and switched_off and chose_delete else "keep")

    removal = plan_removal("acme", plan.resources)
    assert {c.resource_id for c in removal.changes} == {r.id for r in plan.resources} | {f"acme/_/{kind}" for kind in SWEEPS}
    assert {c.action for c in removal.changes} == {"delete"}
    assert all(c.data == "delete" for c in removal.changes if c.kind == "bucket")
