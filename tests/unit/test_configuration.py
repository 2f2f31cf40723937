"""The one form an operator fills in: what it accepts, and how it explains what it refuses."""

import pytest
from pydantic import ValidationError

from contracts import documents
from contracts.configuration import OperatorConfiguration, problems_of


def form(**changes) -> dict:
    document = {
        "domain": "example.org",
        "initialUser": {"username": "alice", "displayName": "Alice Example", "email": "alice@example.org"},
        "mastodon": {"enable": True},
    }
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = document
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return document


def problems(document: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as refused:
        OperatorConfiguration.model_validate(document)
    return {problem["field"]: problem["message"] for problem in problems_of(refused.value)}


def test_a_valid_configuration_is_accepted_with_its_domain_normalised():
    config = OperatorConfiguration.model_validate(form(domain="  Example.ORG. "))

    assert config.domain == "example.org"
    assert config.enabled_services() == ("mastodon",)
    assert config.initial_user.username == "alice"


@pytest.mark.parametrize("domain", ["localhost", "exa_mple.org", "-bad.example.org", "example.123"])
def test_a_domain_that_is_not_a_domain_name_is_refused_on_the_domain_field(domain):
    found = problems(form(domain=domain))

    assert list(found) == ["domain"]
    assert "domain name such as example.org" in found["domain"]


def test_a_configuration_with_no_service_enabled_is_refused_asking_for_one():
    found = problems(form(mastodon__enable=False))

    assert found == {"services": "enable at least one service (Mastodon, PeerTube or Pixelfed)"}


def test_a_malformed_email_address_is_refused_on_the_email_field():
    found = problems(form(initialUser__email="alice-at-example"))

    assert list(found) == ["initialUser.email"]
    assert "email" in found["initialUser.email"].lower()


@pytest.mark.parametrize("username", ["Alice", "1alice", "al ice", "a"])
def test_a_bad_username_is_refused_on_the_username_field(username):
    assert list(problems(form(initialUser__username=username))) == ["initialUser.username"]


def test_every_wrong_field_is_reported_at_once():
    found = problems(form(domain="nope", initialUser__email="nope", initialUser__username="Nope"))

    assert set(found) == {"domain", "initialUser.email", "initialUser.username"}


def test_a_field_the_form_does_not_have_is_refused_by_name():
    assert "mastodon.theme" in problems(form(mastodon__theme="dark"))


def test_problems_can_drop_a_leading_location_such_as_the_request_body():
    with pytest.raises(ValidationError) as refused:
        OperatorConfiguration.model_validate(form(domain="nope"))
    body_error = ValidationError.from_exception_data(
        refused.value.title, [error | {"loc": ("body", *error["loc"])} for error in refused.value.errors()]
    )

    assert [problem["field"] for problem in problems_of(body_error, strip=("body",))] == ["domain"]


# -- the schema the panel builds its form from -----------------------------------------------------


def _fields(schema: dict, definitions: dict, path: str = ""):
    for name, field in schema["properties"].items():
        target = definitions[field["$ref"].rsplit("/", 1)[-1]] if "$ref" in field else {}
        yield f"{path}{name}", field, target
        if target:
            yield from _fields(target, definitions, f"{path}{name}.")


def test_every_field_of_the_form_has_a_label_and_an_explanation_in_the_schema():
    schema = documents.configuration_schema()
    unlabelled = [
        path
        for path, field, target in _fields(schema, schema["$defs"])
        if not (field.get("title") or target.get("title")) or not (field.get("description") or target.get("description"))
    ]

    assert unlabelled == [], f"fields without a title or description (the panel labels its form from them): {unlabelled}"


def test_the_schema_names_fields_as_the_operator_writes_them():
    schema = documents.configuration_schema()

    assert set(schema["properties"]) == {"domain", "initialUser", "mastodon", "peertube", "pixelfed"}
    assert "displayName" in schema["$defs"]["InitialUser"]["properties"]
    assert schema["required"] == ["domain", "initialUser"]
