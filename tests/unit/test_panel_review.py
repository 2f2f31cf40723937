"""Review before deploy: the configurator's plan preview in words an operator understands, then
Deploy; switching a service off asks about its data first; deleting the account asks to confirm."""

import re

import pytest

from contracts.commands import OperatorRemovalRequested
from contracts.events import ConfigSubmitted
from contracts.resources import BucketResource, BucketSpec, Change, Problem, VmResource, VmSpec
from services.panel.domain.wording import describe_plan, plan_summary
from tests.unit.test_panel_harness import configuration_form, panel, words  # noqa: F401



def test_a_plan_is_told_per_service_in_plain_words():
    vm = VmResource(id="acme/mastodon/vm", service="mastodon", spec=VmSpec(name="acme-mastodon", cores=2, memory_mib=4096, disk_gib=40, tags=()))
    bucket = BucketResource(id="acme/mastodon/bucket", service="mastodon", spec=BucketSpec(name="fedi-acme-mastodon", quota_bytes=50 * 1024**3))
    changes = [
        Change(resource_id="acme/mastodon/vm", action="create", kind="vm", service="mastodon"),
        Change(resource_id="acme/mastodon/bucket", action="create", kind="bucket", service="mastodon"),
        Change(resource_id="acme/pixelfed/nixos", action="update", kind="nixos", service="pixelfed", reason="settings changed"),
        Change(resource_id="acme/pixelfed/vm", action="unchanged", kind="vm", service="pixelfed"),
        Change(resource_id="acme/peertube/bucket", action="delete", kind="bucket", service="peertube", data="keep"),
        Change(resource_id="acme/peertube/vm", action="delete", kind="vm", service="peertube"),
        Change(resource_id="acme/_/sshkey", action="create", kind="sshkey", service="_"),
    ]
    plans = {plan.title: plan for plan in describe_plan(changes, [vm, bucket])}

    assert list(plans) == ["Mastodon", "PeerTube", "Pixelfed", "All your services"]
    assert [line.text for line in plans["Mastodon"].lines] == [
        "A virtual machine for Mastodon: 2 cores, 4 GiB memory, 40 GiB disk",
        "Storage for Mastodon's media, up to 50 GiB",
    ]
    assert [(line.action, line.data) for line in plans["PeerTube"].lines] == [("delete", None), ("keep", "kept")]
    assert "PeerTube's stored media and data are kept" in plans["PeerTube"].lines[1].text
    assert plans["Pixelfed"].lines[0].text == "The system configuration of Pixelfed changes (settings changed)"
    assert plans["Pixelfed"].unchanged == 1
    assert plan_summary(plans.values()) == "3 to create, 1 to change, 1 to remove, 1 to close with its data kept"


def test_deleting_data_is_said_plainly():
    [plan] = describe_plan([Change(resource_id="acme/mastodon/bucket", action="delete", kind="bucket", service="mastodon", data="delete")])
    assert (plan.lines[0].text, plan.lines[0].data) == ("Mastodon's stored media and data are deleted for good", "deleted")


@pytest.mark.parametrize(("choice", "said"), [
    ("keep", "Mastodon's machine is shut down and kept with its disk and database: switching Mastodon on again starts it"),
    ("delete", "Mastodon's machine is removed with its disk and database"),
])
def test_what_happens_to_a_machine_and_its_database_is_said(choice, said):
    [plan] = describe_plan([Change(resource_id="acme/mastodon/vm", action="delete", kind="vm", service="mastodon", data=choice)])
    assert plan.lines[0].text == said and plan.lines[0].data == ("kept" if choice == "keep" else "deleted")


async def test_reviewing_shows_the_plan_and_deploying_submits_exactly_what_was_reviewed(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    await browser.configure(configuration_form(**{"pixelfed.enable": "on"}))
    review = await browser.get("/review")
    assert review.status_code == 200
    shown = words(review.text)
    assert "You asked: Apply this configuration" in shown
    assert "8 to create" in shown and "New A virtual machine for Mastodon" in shown and "New Pixelfed installed and set up" in shown
    [(operator, asked)] = panel.planner.asked
    assert operator == "acme" and asked["domain"] == "acme.example" and asked["pixelfed"]["enable"] is True
    assert await panel.outbox() == [], "reviewing sends nothing"

    deployed = await browser.deploy_reviewed()
    [submitted] = await panel.outbox()
    assert isinstance(submitted, ConfigSubmitted) and submitted.configuration == asked and submitted.revision == 1
    assert deployed.headers["location"] == f"/deployments/{submitted.correlation_id}"
    assert (await browser.get("/review")).headers["location"] == "/configure", "the draft was used up"


async def test_a_review_that_is_no_longer_current_cannot_be_deployed(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    await browser.configure(configuration_form())
    old_review = (await browser.get("/review")).text
    await browser.configure(configuration_form(domain="other.example"))
    reviewed = re.search(r'name="reviewed" value="([^"]+)"', old_review).group(1)
    response = await browser.submit("/review", "/deploy", {"reviewed": reviewed})
    assert response.status_code == 409 and "review it again" in words(response.text)
    assert await panel.outbox() == []


async def test_a_plan_the_configurator_refuses_is_shown_next_to_the_fields_and_not_deployable(panel):
    panel.planner.problems = (Problem(field="domain", message="acme.example is already used by another operator"),)
    browser = await panel.logged_in("ann@acme.example", "acme")
    await browser.configure(configuration_form())
    review = await browser.get("/review")
    assert review.status_code == 422
    assert 'id="f-domain-problem"' in review.text and "already used by another operator" in review.text
    assert 'action="/deploy"' not in review.text
    assert await panel.outbox() == []


async def test_when_the_plan_cannot_be_worked_out_nothing_is_deployed(panel):
    panel.planner.available = False
    browser = await panel.logged_in("ann@acme.example", "acme")
    await browser.configure(configuration_form())
    review = await browser.get("/review")
    assert review.status_code == 503 and "Nothing was deployed" in words(review.text)
    assert 'action="/deploy"' not in review.text


async def deployed(panel, browser, **form) -> None:
    await browser.configure(configuration_form(**form))
    await browser.deploy_reviewed()
    panel.planner.applied = (await panel.outbox())[-1].configuration


async def test_switching_a_service_off_asks_first_whether_to_keep_its_data(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    await deployed(panel, browser, **{"pixelfed.enable": "on"})

    question = await browser.get("/services/mastodon/disable")
    assert question.status_code == 200
    assert "Keep its data" in question.text and "Delete its data for good" in question.text
    assert "checked" not in question.text, "no choice is made for the operator"
    unanswered = await browser.submit("/services/mastodon/disable", "/services/mastodon/disable", {})
    assert unanswered.status_code == 422 and "Choose whether its data is kept or deleted" in words(unanswered.text)

    chosen = await browser.submit("/services/mastodon/disable", "/services/mastodon/disable", {"data": "keep"})
    assert chosen.headers["location"] == "/review"
    review = words((await browser.get("/review")).text)
    assert "You asked: Switch off Mastodon, keeping its data" in review
    assert "Closed Mastodon's stored media and data are kept" in review and "Data kept" in review
    assert "Pixelfed" in review and "deleted" not in review
    assert len(await panel.outbox()) == 1, "nothing is submitted before Deploy"

    await browser.deploy_reviewed()
    submitted = (await panel.outbox())[-1]
    assert (submitted.configuration["mastodon"]["enable"], submitted.configuration["mastodon"]["dataOnDisable"]) == (False, "keep")
    assert submitted.configuration["pixelfed"]["enable"] is True


async def test_choosing_to_delete_the_data_is_shown_as_deleted_for_good(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    await deployed(panel, browser, **{"pixelfed.enable": "on"})
    await browser.submit("/services/pixelfed/disable", "/services/pixelfed/disable", {"data": "delete"})
    review = words((await browser.get("/review")).text)
    assert "Pixelfed's stored media and data are deleted for good" in review and "Data deleted" in review


async def test_switching_off_the_only_service_points_to_deleting_the_account(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    await deployed(panel, browser)
    response = await browser.submit("/services/mastodon/disable", "/services/mastodon/disable", {"data": "keep"})
    assert response.status_code == 422 and "delete your account" in words(response.text)


async def test_only_a_running_service_can_be_switched_off(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    await deployed(panel, browser)
    assert (await browser.get("/services/peertube/disable")).status_code == 404
    assert (await browser.get("/services/friendica/disable")).status_code == 404


async def test_deleting_the_account_needs_the_operator_name_typed_then_asks_for_removal(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    await deployed(panel, browser)
    page = await browser.get("/account/delete")
    assert "cannot be undone" in words(page.text)

    wrong = await browser.submit("/account/delete", "/account/delete", {"confirm": "yes"})
    assert wrong.status_code == 422 and "Type your operator name, acme, to confirm" in words(wrong.text)
    assert not any(isinstance(m, OperatorRemovalRequested) for m in await panel.outbox())

    done = await browser.submit("/account/delete", "/account/delete", {"confirm": "acme", "reason": "moving on"})
    assert done.headers["location"] == "/"
    removal = (await panel.outbox())[-1]
    assert isinstance(removal, OperatorRemovalRequested) and removal.operator_id == "acme" and removal.reason == "moving on"
    assert "You asked to delete your account" in words((await browser.get("/")).text)
    refused = await browser.configure(configuration_form())
    assert refused.status_code == 409
    assert len([m for m in await panel.outbox() if isinstance(m, OperatorRemovalRequested)]) == 1

