"""The audit log of what people do in the panel: log-ins (refused ones marked, never the password),
sign-ups, deployed configurations, one-time password reveals (never the password), requests to
delete an account, API tokens made and used for submissions. No record holds a secret."""

import re

from contracts.events import AccountCreated, DeploymentSucceeded, PlanCreated
from services.panel import operators
from tests.unit.test_panel_harness import PASSWORD, configuration_form, panel  # noqa: F401

ADMIN_PASSWORD = "the-generated-mastodon-admin-password"
API_CONFIGURATION = {"domain": "acme.example", "initialUser": {"username": "alice", "displayName": "A", "email": "a@acme.example"},
                     "mastodon": {"enable": True}, "pixelfed": {"enable": True}}


def recorded(panel, action: str) -> list:
    return [r for r in panel.auditor.records if r.action == action]


async def operator_token(panel, name: str) -> str:
    """An operator made with `fedi operator create` and its API token."""
    async with panel.context.units.database.session() as session:
        return await operators.create_operator(session, name)


async def token_of(browser) -> str:
    page = await browser.submit("/account/token", "/account/token", {})
    return re.search(r'id="token" class="secret">([^<]+)<', page.text).group(1)


async def succeeded_with_an_admin_account(panel, deployment_id: str) -> None:
    submitted = next(m for m in await panel.outbox() if m.correlation_id == deployment_id)
    plan = submitted.caused(PlanCreated, "configurator", deployment_id=deployment_id, revision=1, domain="acme.example", resources=(), changes=())
    panel.vault.values["secret://identity/acme-mastodon"] = ADMIN_PASSWORD
    await panel.apply(
        plan, plan.caused(AccountCreated, "identity", deployment_id=deployment_id, resource_id="acme/mastodon/account", service="mastodon",
                          username="alice", secret_ref="secret://identity/acme-mastodon"),
        plan.caused(DeploymentSucceeded, "orchestrator", deployment_id=deployment_id, revision=1, duration_seconds=3,
                    urls={"mastodon": "https://mastodon.acme.example"}),
    )


async def test_a_sign_up_and_each_log_in_are_recorded_with_the_refused_ones_marked(panel):
    await panel.browser().sign_up("Ann@Acme.Example", "acme")
    await panel.browser().log_in("ann@acme.example")
    await panel.browser().log_in("ann@acme.example", "a wrong password, typed")

    [signup] = recorded(panel, "signup")
    assert (signup.actor, signup.target, signup.outcome) == ("ann@acme.example", "acme", "ok")
    good, bad = recorded(panel, "login")
    assert (good.actor, good.target, good.outcome, good.details["role"]) == ("ann@acme.example", "acme", "ok", "operator")
    assert (bad.actor, bad.outcome, bad.details["reason"]) == ("ann@acme.example", "refused", "wrong e-mail address or password")
    assert "client" in bad.details
    assert all(PASSWORD not in r.model_dump_json() and "a wrong password" not in r.model_dump_json() for r in panel.auditor.records)


async def test_a_password_typed_into_the_e_mail_field_is_not_recorded(panel):
    await panel.browser().log_in("my secret passphrase", "anything at all")

    [refused] = recorded(panel, "login")
    assert refused.actor == "(not an e-mail address)" and refused.outcome == "refused"
    assert "my secret passphrase" not in refused.model_dump_json()


async def test_throttled_log_ins_are_recorded_as_refused_for_too_many_attempts(panel):
    await panel.browser().sign_up("ann@acme.example", "acme")
    for _ in range(3):
        await panel.browser().log_in("ann@acme.example", "wrong wrong wrong")
    throttled = await panel.browser().log_in("ann@acme.example")

    assert throttled.status_code == 429
    assert recorded(panel, "login")[-1].details["reason"] == "too many failed log-ins"
    assert recorded(panel, "login")[-1].outcome == "refused"


async def test_a_deployed_configuration_is_recorded_with_its_deployment_and_what_it_was_for(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    await ann.configure(configuration_form())
    deployment_id = (await ann.deploy_reviewed()).headers["location"].rsplit("/", 1)[1]

    [submitted] = recorded(panel, "config.submitted")
    assert (submitted.actor, submitted.target) == ("ann@acme.example", "acme")
    assert submitted.details == {"deployment": deployment_id, "revision": "1", "intent": "apply this configuration", "via": "page"}


async def test_submissions_with_an_operators_api_token_are_recorded_as_that_operator_through_the_api(panel):
    token = await operator_token(panel, "acme")
    api = await panel.api(token)

    accepted = (await api.post("/api/v1/configuration", json=API_CONFIGURATION)).json()
    await api.post("/api/v1/services/mastodon/disable", json={"data": "delete"})

    submitted, disabled = recorded(panel, "config.submitted")
    assert (submitted.actor, submitted.target, submitted.details["via"]) == ("acme", "acme", "api token")
    assert submitted.details["deployment"] == accepted["deployment_id"]
    assert disabled.details["intent"] == "switch off mastodon, delete its data"
    assert token not in "".join(r.model_dump_json() for r in panel.auditor.records)


async def test_a_token_made_in_the_panel_is_recorded_and_its_submissions_carry_its_users_address(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    token = await token_of(ann)

    await (await panel.api(token)).post("/api/v1/configuration", json=API_CONFIGURATION)

    [made] = recorded(panel, "api_token.created")
    assert (made.actor, made.target) == ("ann@acme.example", "acme")
    [submitted] = recorded(panel, "config.submitted")
    assert (submitted.actor, submitted.details["via"]) == ("ann@acme.example", "api token")
    assert token not in "".join(r.model_dump_json() for r in panel.auditor.records)


async def test_a_password_reveal_is_recorded_without_the_password_and_a_second_try_as_refused(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    await ann.configure(configuration_form())
    deployment_id = (await ann.deploy_reviewed()).headers["location"].rsplit("/", 1)[1]
    await succeeded_with_an_admin_account(panel, deployment_id)

    assert ADMIN_PASSWORD in (await ann.submit("/", "/credentials/mastodon/reveal", {})).text
    assert (await ann.submit("/", "/credentials/mastodon/reveal", {})).status_code == 410

    shown, again = recorded(panel, "credential.revealed")
    assert (shown.actor, shown.target, shown.outcome) == ("ann@acme.example", "acme", "ok")
    assert shown.details == {"service": "mastodon", "username": "alice", "via": "page"}
    assert (again.outcome, again.details["reason"]) == ("refused", "already shown once")
    assert all(ADMIN_PASSWORD not in r.model_dump_json() for r in panel.auditor.records)


async def test_a_reveal_through_the_api_is_recorded_as_the_tokens_owner(panel):
    token = await operator_token(panel, "acme")
    api = await panel.api(token)
    deployment_id = (await api.post("/api/v1/configuration", json=API_CONFIGURATION)).json()["deployment_id"]
    await succeeded_with_an_admin_account(panel, deployment_id)

    assert (await api.post("/api/v1/credentials/mastodon/reveal")).json()["password"] == ADMIN_PASSWORD

    [shown] = recorded(panel, "credential.revealed")
    assert (shown.actor, shown.details["via"]) == ("acme", "api token")
    assert ADMIN_PASSWORD not in shown.model_dump_json()


async def test_asking_to_delete_the_account_is_recorded_from_the_page_and_from_the_api(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    await ann.submit("/account/delete", "/account/delete", {"confirm": "acme", "reason": "moving"})
    bob_token = await operator_token(panel, "blue")
    await (await panel.api(bob_token)).post("/api/v1/account/removal", json={"confirm": "blue"})

    page, api = recorded(panel, "account.removal_requested")
    assert (page.actor, page.target, page.details["via"]) == ("ann@acme.example", "acme", "page")
    assert (api.actor, api.target, api.details["via"]) == ("blue", "blue", "api token")


async def test_logging_out_is_recorded(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    await ann.submit("/", "/logout", {})

    [logout] = recorded(panel, "logout")
    assert (logout.actor, logout.target) == ("ann@acme.example", "acme")
