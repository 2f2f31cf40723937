"""The configuration form: generated from the configuration's JSON Schema, grouped per service,
with labels, help texts and examples; every mistake answered next to its field, what was typed
kept (and escaped), and nothing sent on while anything is wrong."""

import re

import pytest

from contracts.configuration import SERVICES
from contracts.documents import configuration_schema
from services.panel.adapters.store import Draft
from services.panel.domain import form
from tests.unit.test_panel_harness import configuration_form, panel, text_of  # noqa: F401

GROUPS = form.groups(configuration_schema())


def field_block(page: str, name: str) -> str:
    """The HTML of one field: from its container to the next field's."""
    field_id = "f-" + name.replace(".", "-")
    start = page.index(f'id="{field_id}-help"') if f'id="{field_id}"' not in page else page.index(f'id="{field_id}"')
    start = page.rindex('<div class="field', 0, start)
    end = page.find('<div class="field', start + 1)
    return page[start:end if end > 0 else len(page)]


def test_the_form_is_generated_from_the_schema_one_group_per_service():
    assert [group.key for group in GROUPS] == ["", "initialUser", *SERVICES]
    assert [group.title for group in GROUPS if group.is_service] == ["Mastodon", "PeerTube", "Pixelfed"]
    domain = GROUPS[0].fields[0]
    assert (domain.label, domain.example, domain.required) == ("Domain", "example.org", True)
    assert domain.help.startswith("Your domain name")
    upload = next(f for f in form.all_fields(GROUPS) if f.name == "peertube.maxUploadGib")
    assert (upload.kind, upload.minimum, upload.maximum, upload.default) == ("number", 1, 64, 4)
    keep = next(f for f in form.all_fields(GROUPS) if f.name == "mastodon.dataOnDisable")
    assert keep.kind == "choice" and [value for value, _ in keep.choices] == ["keep", "delete"]


async def test_the_page_shows_every_field_with_its_label_help_and_example(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    page = (await browser.get("/configure")).text
    for group in GROUPS:
        assert f"<legend>{group.title}</legend>" in page
        for f in group.fields:
            block = field_block(page, f.name)
            assert f.label in block, f.name
            assert f.help in " ".join(text_of(block).split()), f.name
            if f.example:
                assert f"Example: {f.example}" in block
    assert 'for="f-initialUser-email"' in page and 'name="initialUser.email"' in page


BAD_VALUES = [
    ("domain", "", "must be at least 4 characters"),
    ("domain", "a" * 190 + ".example.org", "must be at most 200 characters"),
    ("domain", "not a domain", "must be a domain name"),
    ("domain", "<script>alert(1)</script>", "must be a domain name"),
    ("domain", "localhost", "must be a domain name"),
    ("initialUser.username", "", "must be at least 2 characters"),
    ("initialUser.username", "a" * 31, "must be at most 30 characters"),
    ("initialUser.username", "Alice Smith", "not allowed"),
    ("initialUser.username", "<script>x</script>", "not allowed"),
    ("initialUser.displayName", "", "must not be empty"),
    ("initialUser.displayName", "x" * 65, "must be at most 64 characters"),
    ("initialUser.email", "", "not a valid email address"),
    ("initialUser.email", "alice-at-example", "not a valid email address"),
    ("initialUser.email", "<script>@x.org", "not a valid email address"),
    ("initialUser.email", "a" * 250 + "@example.org", "not a valid email address"),
    ("mastodon.enable", "maybe", "must be on or off"),
    ("mastodon.singleUserMode", "<script>", "must be on or off"),
    ("mastodon.registrations", "sometimes", "must be one of the choices offered"),
    ("mastodon.dataOnDisable", "<script>", "must be one of the choices offered"),
    ("peertube.maxUploadGib", "", "must be a whole number"),
    ("peertube.maxUploadGib", "four", "must be a whole number"),
    ("peertube.maxUploadGib", "0", "must be at least 1"),
    ("peertube.maxUploadGib", "65", "must be at most 64"),
    ("peertube.maxUploadGib", "9" * 400, "must be"),
    ("pixelfed.maxPhotoMib", "<script>alert(1)</script>", "must be a whole number"),
    ("pixelfed.maxPhotoMib", "2.5", "must be a whole number"),
]


def test_every_field_of_the_form_is_tried_with_bad_values():
    tried = {name for name, _, _ in BAD_VALUES}
    untried = {f.name for f in form.all_fields(GROUPS)} - tried
    # the remaining switches and choices are the same kinds as tried ones; their bad values are below
    assert untried <= {"peertube.enable", "peertube.transcoding", "peertube.dataOnDisable", "pixelfed.enable",
                       "pixelfed.registrations", "pixelfed.dataOnDisable"}


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES + [
    ("peertube.transcoding", "sure", "must be on or off"),
    ("pixelfed.registrations", "1; DROP TABLE", "must be on or off"),
    ("peertube.dataOnDisable", "forget", "must be one of the choices offered"),
    ("pixelfed.dataOnDisable", "", "must be one of the choices offered"),
])
async def test_a_bad_value_is_answered_next_to_its_field_kept_and_nothing_is_sent(panel, name, value, message):
    browser = await panel.logged_in("ann@acme.example", "acme")
    response = await browser.configure(configuration_form(**{name: value}))

    assert response.status_code == 422
    page = response.text
    block = field_block(page, name)
    assert message in text_of(block), text_of(block)
    assert 'aria-invalid="true"' in block or "<fieldset" in block
    if form_kind(name) in ("text", "email", "number"):
        assert f'value="{escape(value)}"' in block, "what was typed is kept"
    assert "<script" not in page, "typed text is never markup"
    assert await panel.outbox() == [] and panel.planner.asked == []
    async with panel.context.units.database.session() as session:
        assert await session.get(Draft, "acme") is None, "nothing is kept for review"


def form_kind(name: str) -> str:
    return next(f.kind for f in form.all_fields(GROUPS) if f.name == name)


def escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")


async def test_other_fields_keep_their_input_when_one_is_wrong(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    page = (await browser.configure(configuration_form(**{"domain": "bad", "initialUser.displayName": "Ann of Acme",
                                                           "pixelfed.enable": "on", "pixelfed.maxPhotoMib": "42"}))).text
    assert 'value="Ann of Acme"' in page and 'value="42"' in page
    assert re.search(r'name="pixelfed.enable" type="checkbox" value="on"\s+checked', page)
    assert re.search(r'name="mastodon.registrations" value="approval"\s+checked', page)


async def test_several_mistakes_are_listed_at_the_top_and_each_shown_at_its_field(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    page = (await browser.configure(configuration_form(**{"domain": "", "initialUser.email": "x", "peertube.maxUploadGib": "x"}))).text
    assert "Please correct 3 things" in text_of(page)
    for name in ("domain", "initialUser.email", "peertube.maxUploadGib"):
        assert f'href="#f-{name.replace(".", "-")}"' in page and f'id="f-{name.replace(".", "-")}-problem"' in page


async def test_a_configuration_without_any_service_is_answered_in_the_services_section(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    page = (await browser.configure(configuration_form(**{"mastodon.enable": None}))).text
    assert 'id="services-problem"' in page and "enable at least one service" in text_of(page)
    assert await panel.outbox() == []


async def test_a_valid_form_is_kept_as_a_draft_for_review_and_shown_again_when_reopened(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    response = await browser.configure(configuration_form(domain="Acme.Example", **{"initialUser.displayName": "Ann"}))
    assert response.status_code == 303 and response.headers["location"] == "/review"
    assert await panel.outbox() == [], "nothing is sent before the plan is reviewed and deployed"
    again = (await browser.get("/configure")).text
    assert 'value="acme.example"' in again and 'value="Ann"' in again
