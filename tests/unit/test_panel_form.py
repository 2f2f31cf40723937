"""The configuration form: generated from the configuration's JSON Schema, grouped per service,
with labels, help texts and examples; every mistake answered next to its field, what was typed
kept (and escaped), and nothing sent on while anything is wrong."""

import re

import pytest

from contracts.configuration import SERVICES
from contracts.documents import configuration_schema
from contracts.requests import PlanPreviewReply
from services.configurator.domain.planning import InvalidConfiguration
from services.configurator.domain.plans import plan_configuration
from services.configurator.domain.policy import Policy
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


SCRIPT = "<script>alert(1)</script>"
ON_OR_OFF, WHOLE_NUMBER, A_CHOICE = "must be on or off", "must be a whole number", "must be one of the choices offered"
BAD_VALUES = [
    ("domain", "", "must be at least 4 characters"),
    ("domain", "a" * 190 + ".example.org", "must be at most 200 characters"),
    ("domain", "not a domain", "must be a domain name"),
    ("domain", SCRIPT, "must be a domain name"),
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
    ("mastodon.enable", "maybe", ON_OR_OFF),
    ("mastodon.enable", SCRIPT, ON_OR_OFF),
    ("mastodon.singleUserMode", "2", ON_OR_OFF),
    ("mastodon.singleUserMode", "<script>", ON_OR_OFF),
    ("mastodon.registrations", "sometimes", A_CHOICE),
    ("mastodon.registrations", SCRIPT, A_CHOICE),
    ("mastodon.dataOnDisable", "forget", A_CHOICE),
    ("mastodon.dataOnDisable", "<script>", A_CHOICE),
    ("peertube.enable", "yes please", ON_OR_OFF),
    ("peertube.enable", SCRIPT, ON_OR_OFF),
    ("peertube.transcoding", "sure", ON_OR_OFF),
    ("peertube.transcoding", SCRIPT, ON_OR_OFF),
    ("peertube.maxUploadGib", "", WHOLE_NUMBER),
    ("peertube.maxUploadGib", "four", WHOLE_NUMBER),
    ("peertube.maxUploadGib", "0", "must be at least 1"),
    ("peertube.maxUploadGib", "65", "must be at most 64"),
    ("peertube.maxUploadGib", "9" * 400, "must be"),
    ("peertube.maxUploadGib", SCRIPT, WHOLE_NUMBER),
    ("peertube.dataOnDisable", "forget", A_CHOICE),
    ("peertube.dataOnDisable", SCRIPT, A_CHOICE),
    ("pixelfed.enable", "2", ON_OR_OFF),
    ("pixelfed.enable", SCRIPT, ON_OR_OFF),
    ("pixelfed.registrations", "1; DROP TABLE", ON_OR_OFF),
    ("pixelfed.registrations", SCRIPT, ON_OR_OFF),
    ("pixelfed.maxPhotoMib", SCRIPT, WHOLE_NUMBER),
    ("pixelfed.maxPhotoMib", "2.5", WHOLE_NUMBER),
    ("pixelfed.maxPhotoMib", "101", "must be at most 100"),
    ("pixelfed.dataOnDisable", "", A_CHOICE),
    ("pixelfed.dataOnDisable", SCRIPT, A_CHOICE),
]
FREE_TEXT = {"initialUser.displayName"}
"""Any text is a name: markup typed into it is kept and shown as text (test_panel_security), not refused."""


def max_length(name: str) -> int:
    """The longest text the configuration's schema allows in a field."""
    schema = node = configuration_schema()
    for part in name.split("."):
        node = node["properties"][part]
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node
    return node["maxLength"]


def test_every_field_of_the_form_is_tried_with_bad_values():
    kinds = {f.name: f.kind for f in form.all_fields(GROUPS)}
    tried = {name: [(value, message) for n, value, message in BAD_VALUES if n == name] for name in kinds}

    assert set(kinds) == {name for name, _, _ in BAD_VALUES}, "a field of the form without bad values"
    assert {name for name, cases in tried.items() if not any("<script" in value for value, _ in cases)} == FREE_TEXT
    for name, kind in kinds.items():
        messages = {message for _, message in tried[name]}
        if kind in ("text", "email"):
            assert "" in dict(tried[name]) and any(len(value) > max_length(name) for value, _ in tried[name]), f"{name}: empty and too long"
        if kind == "checkbox":
            assert ON_OR_OFF in messages, f"{name}: neither on nor off"
        if kind == "number":
            assert WHOLE_NUMBER in messages and any(message.startswith(("must be at least", "must be at most")) for message in messages), name
        if kind == "choice":
            assert A_CHOICE in messages, f"{name}: none of its choices"


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES)
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


class HostingPlanner:
    """Plans as the configurator does, for a provider hosting operators' domains under provider.example only."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def preview(self, operator_id: str, configuration: dict) -> PlanPreviewReply:
        self.asked.append(configuration["domain"])
        try:
            plan = plan_configuration(operator_id, configuration, Policy(allowed_parent_domains=("provider.example",)))
        except InvalidConfiguration as exc:
            return PlanPreviewReply(problems=tuple(exc.problems))
        return PlanPreviewReply(resources=plan.resources, changes=plan.changes)


async def test_a_domain_the_provider_does_not_host_is_answered_next_to_the_domain_field_and_nothing_is_sent(panel):
    panel.context.planner = HostingPlanner()
    browser = await panel.logged_in("ann@acme.example", "acme")

    posted = await browser.configure(configuration_form("acme.example"))
    assert (posted.status_code, posted.headers["location"]) == (303, "/review"), "the form itself is right: the plan is asked next"
    answered = await browser.get("/review")

    assert answered.status_code == 422
    block = field_block(answered.text, "domain")
    assert "must be under provider.example, the domains this provider hosts (for example acme.provider.example)" in text_of(block)
    assert 'aria-invalid="true"' in block and 'value="acme.example"' in block
    assert 'action="/deploy"' not in answered.text
    assert await panel.outbox() == []
    await browser.configure(configuration_form("acme.provider.example"))
    assert 'action="/deploy"' in (await browser.get("/review")).text, "a hosted domain is planned"
    assert panel.context.planner.asked == ["acme.example", "acme.provider.example"] and await panel.outbox() == []
