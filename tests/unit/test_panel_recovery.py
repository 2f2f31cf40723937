"""After a failed deployment the operator can try it again, or go back to the last configuration that
worked: each is a new revision submitted like any other, from the deployment's page or the API,
for the operator's own newest deployment only. Going back from the page is reviewed first, like any
change: its plan, and whether the data of the services it switches off is kept or deleted. What the
home page shows and what switching a service off starts from is the configuration in force, not one
that failed or was refused."""

import re

from contracts.events import ConfigRejected, ConfigSubmitted, DeploymentFailed, DeploymentSucceeded
from contracts.resources import Problem
from services.panel import operators
from tests.unit.test_panel_harness import configuration_form, panel, words  # noqa: F401

WITH_PIXELFED = {"pixelfed.enable": "on"}
WITH_PEERTUBE = {"pixelfed.enable": "on", "peertube.enable": "on"}



async def deploy(panel, browser, **form: str) -> tuple[str, ConfigSubmitted]:
    await browser.configure(configuration_form(**form))
    deployment_id = (await browser.deploy_reviewed()).headers["location"].rsplit("/", 1)[1]
    return deployment_id, (await panel.outbox())[-1]


async def succeed(panel, deployment_id: str, submitted: ConfigSubmitted) -> None:
    await panel.apply(submitted.caused(DeploymentSucceeded, "orchestrator", deployment_id=deployment_id, revision=submitted.revision,
                                       duration_seconds=5, urls={"mastodon": "https://mastodon.acme.example",
                                                                 "pixelfed": "https://pixelfed.acme.example"}))


async def fail(panel, deployment_id: str, submitted: ConfigSubmitted) -> None:
    await panel.apply(submitted.caused(DeploymentFailed, "orchestrator", deployment_id=deployment_id, revision=submitted.revision,
                                       failed_step="acme/peertube/vm", reason="acme/peertube/vm: the host has no room for another machine"))


async def worked_then_failed(panel):
    """Ann's revision 1 (Mastodon and Pixelfed) succeeded; revision 2 (adding PeerTube) failed."""
    ann = await panel.logged_in("ann@acme.example", "acme")
    good, submitted = await deploy(panel, ann, **WITH_PIXELFED)
    await succeed(panel, good, submitted)
    failed, submitted = await deploy(panel, ann, **WITH_PEERTUBE)
    await fail(panel, failed, submitted)
    return ann, good, failed


async def test_a_failed_deployment_offers_to_try_again_or_go_back_to_the_last_working_configuration(panel):
    ann, _good, failed = await worked_then_failed(panel)

    page = words((await ann.get(f"/deployments/{failed}")).text)

    assert "This deployment failed" in page
    assert "Try again Deploys the same configuration once more." in page
    assert ("Go back to the last working configuration Shows what going back to revision 1, the last one that worked, would change, "
            "and asks what happens to the data of what it switches off. Nothing is deployed before you press Deploy.") in page


async def test_trying_again_submits_the_failed_configuration_as_a_new_revision(panel):
    ann, _good, failed = await worked_then_failed(panel)
    failed_configuration = (await panel.outbox())[-1].configuration

    response = await ann.submit(f"/deployments/{failed}", f"/deployments/{failed}/retry", {})

    sent = (await panel.outbox())[-1]
    assert isinstance(sent, ConfigSubmitted) and sent.revision == 3 and sent.configuration == failed_configuration
    assert response.status_code == 303 and response.headers["location"] == f"/deployments/{sent.correlation_id}"
    assert "Sent to be planned" in words((await ann.get(response.headers["location"])).text)
    [record] = [r for r in panel.auditor.records if r.action == "deployment.retried"]
    assert (record.actor, record.target) == ("ann@acme.example", "acme")
    assert record.details == {"deployment": sent.correlation_id, "revision": "3", "failed": failed, "configuration_of_revision": "2", "via": "page"}


async def go_back(ann, failed: str, **data: str):
    """Presses "Go back to the last working configuration" on the failed deployment's page, and answers its question with `data`."""
    return await ann.submit(f"/deployments/{failed}", f"/deployments/{failed}/rollback", {"asked": "yes", **data} if data else {})


async def test_going_back_asks_what_happens_to_the_data_of_what_it_switches_off_then_shows_its_review(panel):
    ann, _good, failed = await worked_then_failed(panel)
    good_configuration, failed_configuration = [m.configuration for m in await panel.outbox() if isinstance(m, ConfigSubmitted)]
    panel.planner.applied = failed_configuration  # the failed change left PeerTube's machine and bucket
    before = await panel.outbox()

    question = await go_back(ann, failed)
    unanswered = await go_back(ann, failed, asked="yes")
    answered = await go_back(ann, failed, **{"peertube.dataOnDisable": "keep"})
    review = await ann.get("/review")

    assert question.status_code == 200
    assert ("Go back to revision 1 Revision 1 is the last configuration that worked. Going back switches off PeerTube, which the change "
            "that failed switched on. What should happen to its stored media and database?") in words(question.text)
    assert "PeerTube's data Keep its data Delete its data for good" in words(question.text)
    assert "checked" not in question.text, "no choice is made for the operator"
    assert unanswered.status_code == 422 and "Choose whether its data is kept or deleted." in words(unanswered.text)
    assert answered.status_code == 303 and answered.headers["location"] == "/review"
    shown = words(review.text)
    assert "You asked: Go back to revision 1, the last configuration that worked, keeping PeerTube's data" in shown
    assert "Closed PeerTube's stored media and data are kept: access is closed" in shown and "Data kept" in shown
    assert "Removed The admin account of PeerTube is removed" in shown and "Removed PeerTube is switched off" in shown
    assert "deleted" not in shown
    operator, previewed = panel.planner.asked[-1]
    assert operator == "acme" and previewed == good_configuration, "the configurator's plan of the last working configuration"
    assert await panel.outbox() == before, "nothing is submitted before Deploy"
    assert not [r for r in panel.auditor.records if r.action.startswith("deployment.")]


async def test_choosing_to_delete_the_data_and_deploying_goes_back_with_that_data_deleted(panel):
    ann, _good, failed = await worked_then_failed(panel)
    good_configuration, failed_configuration = [m.configuration for m in await panel.outbox() if isinstance(m, ConfigSubmitted)]
    panel.planner.applied = failed_configuration

    await go_back(ann, failed, **{"peertube.dataOnDisable": "delete"})
    review = words((await ann.get("/review")).text)
    deployed = await ann.deploy_reviewed()

    assert "You asked: Go back to revision 1, the last configuration that worked, deleting PeerTube's data for good" in review
    assert "PeerTube's stored media and data are deleted for good" in review and "Data deleted" in review
    sent = (await panel.outbox())[-1]
    assert isinstance(sent, ConfigSubmitted) and sent.revision == 3
    assert sent.configuration == good_configuration | {"peertube": good_configuration["peertube"] | {"dataOnDisable": "delete"}}
    assert deployed.status_code == 303 and deployed.headers["location"] == f"/deployments/{sent.correlation_id}"
    [record] = [r for r in panel.auditor.records if r.details.get("deployment") == sent.correlation_id]
    assert (record.action, record.actor, record.target) == ("deployment.rolled_back", "ann@acme.example", "acme")
    assert record.details == {"deployment": sent.correlation_id, "revision": "3", "failed": failed, "configuration_of_revision": "1", "via": "page"}
    assert (await ann.get("/review")).headers["location"] == "/configure", "the draft was used up"


async def test_going_back_from_a_change_that_switched_nothing_on_shows_its_review_at_once(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    good, submitted = await deploy(panel, ann, **WITH_PIXELFED)
    await succeed(panel, good, submitted)
    panel.planner.applied = submitted.configuration
    failed, submitted = await deploy(panel, ann, **WITH_PIXELFED, **{"mastodon.registrations": "closed"})
    await fail(panel, failed, submitted)
    before = await panel.outbox()

    response = await go_back(ann, failed)

    assert response.status_code == 303 and response.headers["location"] == "/review"
    assert "You asked: Go back to revision 1, the last configuration that worked" in words((await ann.get("/review")).text)
    assert await panel.outbox() == before


async def test_a_reviewed_going_back_is_not_deployed_once_something_newer_was(panel):
    ann, _good, failed = await worked_then_failed(panel)
    panel.planner.applied = (await panel.outbox())[-1].configuration
    await go_back(ann, failed, **{"peertube.dataOnDisable": "delete"})
    review = (await ann.get("/review")).text
    await ann.submit(f"/deployments/{failed}", f"/deployments/{failed}/retry", {})
    before = await panel.outbox()

    reviewed = re.search(r'name="reviewed" value="([^"]+)"', review).group(1)
    refused = await ann.submit("/review", "/deploy", {"reviewed": reviewed})

    assert refused.status_code == 409 and "going back from it is no longer possible" in words(refused.text)
    assert await panel.outbox() == before, "nothing was submitted"
    assert (await ann.get("/review")).headers["location"] == "/configure", "the going back that can no longer be deployed is dropped"
    assert not [r for r in panel.auditor.records if r.action == "deployment.rolled_back"]


async def test_a_deployment_that_did_not_fail_or_is_not_the_newest_cannot_be_gone_back_from(panel):
    ann, good, failed = await worked_then_failed(panel)
    panel.planner.applied = (await panel.outbox())[-1].configuration
    retried = (await ann.submit(f"/deployments/{failed}", f"/deployments/{failed}/retry", {})).headers["location"].rsplit("/", 1)[1]
    before = await panel.outbox()

    from_the_older = await go_back(ann, failed, **{"peertube.dataOnDisable": "keep"})
    from_the_running = await go_back(ann, retried)
    from_the_succeeded = await go_back(ann, good)

    assert from_the_older.status_code == 409 and "Something newer was deployed since this one failed" in words(from_the_older.text)
    assert from_the_running.status_code == from_the_succeeded.status_code == 409
    assert "Only a deployment that failed can be tried again or undone." in words(from_the_succeeded.text)
    assert (await ann.get("/review")).headers["location"] == "/configure", "nothing was kept for review"
    assert await panel.outbox() == before


async def test_with_nothing_that_ever_worked_going_back_is_refused_with_a_clear_message(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    failed, submitted = await deploy(panel, ann)
    await fail(panel, failed, submitted)
    before = await panel.outbox()

    page = words((await ann.get(f"/deployments/{failed}")).text)
    refused = await ann.submit(f"/deployments/{failed}", f"/deployments/{failed}/rollback", {})

    assert "Try again" in page and "Go back to the last working configuration" not in page
    assert "No earlier configuration of yours has worked yet, so there is none to go back to." in page
    assert refused.status_code == 409
    assert "No earlier configuration of yours has worked yet, so there is nothing to go back to." in words(refused.text)
    assert await panel.outbox() == before, "nothing was submitted"


async def test_only_the_newest_deployment_and_only_once_it_failed_can_be_tried_again(panel):
    ann, good, failed = await worked_then_failed(panel)
    retried = (await ann.submit(f"/deployments/{failed}", f"/deployments/{failed}/retry", {})).headers["location"]
    before = await panel.outbox()

    twice = await ann.submit(f"/deployments/{failed}", f"/deployments/{failed}/retry", {})
    succeeded = await ann.submit(f"/deployments/{good}", f"/deployments/{good}/retry", {})
    running = await ann.submit(retried, f"{retried}/rollback", {})

    assert twice.status_code == 409 and "Something newer was deployed since this one failed" in words(twice.text)
    assert succeeded.status_code == 409 and "Only a deployment that failed can be tried again or undone." in words(succeeded.text)
    assert running.status_code == 409
    assert await panel.outbox() == before
    assert "Try again" not in words((await ann.get(f"/deployments/{failed}")).text), "no button where it would be refused"


async def test_another_operators_deployment_cannot_be_tried_again_or_rolled_back(panel):
    _ann, _good, failed = await worked_then_failed(panel)
    bob = await panel.logged_in("bob@blue.example", "blue")
    bob_api = await panel.api(await _operator_token(panel, "cyan"))
    before = await panel.outbox()

    for action in ("retry", "rollback"):
        assert (await bob.submit("/", f"/deployments/{failed}/{action}", {})).status_code == 404
        assert (await bob_api.post(f"/api/v1/deployments/{failed}/{action}")).status_code == 404
    assert await panel.outbox() == before


async def _operator_token(panel, name: str) -> str:
    async with panel.context.units.database.session() as session:
        return await operators.create_operator(session, name)


async def test_the_json_api_tries_again_and_goes_back_like_the_page(panel):
    token = await _operator_token(panel, "acme")
    api = await panel.api(token)
    configuration = {"domain": "acme.example", "initialUser": {"username": "alice", "displayName": "A", "email": "a@acme.example"},
                     "mastodon": {"enable": True}}
    first = (await api.post("/api/v1/configuration", json=configuration)).json()["deployment_id"]
    await fail(panel, first, (await panel.outbox())[-1])

    refused = await api.post(f"/api/v1/deployments/{first}/rollback")
    retried = await api.post(f"/api/v1/deployments/{first}/retry")

    assert refused.status_code == 409 and "nothing to go back to" in refused.json()["detail"]
    assert retried.status_code == 202 and retried.json()["revision"] == 2
    await succeed(panel, retried.json()["deployment_id"], (await panel.outbox())[-1])
    third = (await api.post("/api/v1/configuration", json={**configuration, "pixelfed": {"enable": True}})).json()["deployment_id"]
    await fail(panel, third, (await panel.outbox())[-1])
    back = await api.post(f"/api/v1/deployments/{third}/rollback")
    assert back.status_code == 202 and back.json()["revision"] == 4
    assert (await panel.outbox())[-1].configuration["pixelfed"]["enable"] is False
    assert [(r.action, r.actor, r.details["via"]) for r in panel.auditor.records if r.action.startswith("deployment.")] == [
        ("deployment.retried", "acme", "api token"), ("deployment.rolled_back", "acme", "api token")]
    assert {"/api/v1/deployments/{deployment_id}/retry", "/api/v1/deployments/{deployment_id}/rollback"} <= set((await api.get("/openapi.json")).json()["paths"])


async def test_going_back_through_the_json_api_keeps_the_data_of_what_it_switches_off_even_if_deleting_was_chosen_before(panel):
    api = await panel.api(await _operator_token(panel, "acme"))
    configuration = {"domain": "acme.example", "initialUser": {"username": "alice", "displayName": "A", "email": "a@acme.example"},
                     "mastodon": {"enable": True}, "peertube": {"enable": True}}
    first = (await api.post("/api/v1/configuration", json=configuration)).json()["deployment_id"]
    await succeed(panel, first, (await panel.outbox())[-1])
    switched_off = (await api.post("/api/v1/services/peertube/disable", json={"data": "delete"})).json()["deployment_id"]
    await succeed(panel, switched_off, (await panel.outbox())[-1])
    again = (await api.post("/api/v1/configuration", json=configuration)).json()["deployment_id"]
    await fail(panel, again, (await panel.outbox())[-1])

    back = await api.post(f"/api/v1/deployments/{again}/rollback")

    assert back.status_code == 202
    sent = (await panel.outbox())[-1].configuration
    assert (sent["peertube"]["enable"], sent["peertube"]["dataOnDisable"]) == (False, "keep"), "the new PeerTube's data was never chosen to go"
    paths = (await api.get("/openapi.json")).json()["paths"]
    described = " ".join(paths["/api/v1/deployments/{deployment_id}/rollback"]["post"]["description"].split())
    assert "The data of every service it switches off is kept" in described and "/api/v1/plan-preview" in described


async def test_after_a_failed_change_the_home_page_shows_what_is_in_force(panel):
    ann, _good, _failed = await worked_then_failed(panel)

    home = (await ann.get("/")).text

    services = {name: state for state, name in re.findall(r'<li class="card service (on|off)">\s*<h2>(\w+)</h2>', home)}
    assert services == {"Mastodon": "on", "PeerTube": "off", "Pixelfed": "on"}
    assert "failed revision 2" in words(home), "the failed deployment is still the latest one shown"


async def test_after_a_refused_change_switching_a_service_off_starts_from_the_configuration_in_force(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    good, submitted = await deploy(panel, ann, **WITH_PIXELFED)
    await succeed(panel, good, submitted)
    refused, submitted = await deploy(panel, ann, **{**WITH_PEERTUBE, "domain": "elsewhere.example"})
    await panel.apply(submitted.caused(ConfigRejected, "configurator", revision=2, problems=(Problem(field="domain", message="is not hosted here"),)))

    assert (await ann.get("/services/peertube/disable")).status_code == 404, "PeerTube never came into force"
    await ann.submit("/services/pixelfed/disable", "/services/pixelfed/disable", {"data": "keep"})
    await ann.deploy_reviewed()

    sent = (await panel.outbox())[-1]
    assert sent.configuration["domain"] == "acme.example"
    assert (sent.configuration["mastodon"]["enable"], sent.configuration["pixelfed"]["enable"], sent.configuration["peertube"]["enable"]) == (True, False, False)


async def test_the_api_shows_and_switches_off_from_the_configuration_in_force_too(panel):
    token = await _operator_token(panel, "acme")
    api = await panel.api(token)
    configuration = {"domain": "acme.example", "initialUser": {"username": "alice", "displayName": "A", "email": "a@acme.example"},
                     "mastodon": {"enable": True}, "pixelfed": {"enable": True}}
    first = (await api.post("/api/v1/configuration", json=configuration)).json()["deployment_id"]
    await succeed(panel, first, (await panel.outbox())[-1])
    second = (await api.post("/api/v1/configuration", json={**configuration, "peertube": {"enable": True}})).json()["deployment_id"]
    await fail(panel, second, (await panel.outbox())[-1])

    assert (await api.get("/api/v1/configuration")).json()["peertube"]["enable"] is False
    assert (await api.post("/api/v1/services/peertube/disable", json={"data": "keep"})).status_code == 404
    assert (await api.post("/api/v1/services/pixelfed/disable", json={"data": "keep"})).status_code == 202
    assert (await panel.outbox())[-1].configuration["peertube"]["enable"] is False


async def test_a_change_still_on_its_way_is_what_switching_off_starts_from(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    good, submitted = await deploy(panel, ann, **WITH_PIXELFED)
    await succeed(panel, good, submitted)
    await deploy(panel, ann, **WITH_PEERTUBE)  # planned, not finished

    await ann.submit("/services/pixelfed/disable", "/services/pixelfed/disable", {"data": "keep"})
    await ann.deploy_reviewed()

    assert (await panel.outbox())[-1].configuration["peertube"]["enable"] is True, "the change on its way is not dropped"


async def test_the_configuration_form_starts_from_what_was_submitted_last_so_a_mistake_can_be_fixed(panel):
    ann, _good, _failed = await worked_then_failed(panel)

    form = (await ann.get("/configure")).text

    assert re.search(r'name="peertube.enable"[^>]*checked', form)
