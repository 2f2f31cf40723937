"""Security of the panel: one operator can reach nothing of another's through any page or API
route; every form needs its CSRF token; whatever an operator typed is shown as text, never markup;
an admin password is shown once and never lands in logs or events."""

import json
import re

import pytest

from contracts.events import AccountCreated, ConfigRejected, DeploymentFailed, DeploymentProgress, DeploymentSucceeded, PlanCreated
from contracts.resources import Problem
from runtime.event_chain import Traced
from services.panel.adapters.store import Draft, Panel
from services.panel.web.render import SECURITY_HEADERS
from tests.unit.test_panel_harness import configuration_form, panel, text_of  # noqa: F401

PUBLIC = {"/healthz", "/signup", "/login", "/logout", "/static", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
BOBS_PASSWORD = "bobs-admin-password-Zx81"
SCRIPT = "<script>alert('owned')</script>"


def routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            for method in getattr(context, "methods", None) or {"GET"}:
                if method != "HEAD":
                    found.add((method, context.path))
    return found


@pytest.fixture
async def two_operators(panel):
    """Ann runs nothing yet; Bob runs Mastodon and Pixelfed on blue.example with passwords to reveal."""
    ann = await panel.logged_in("ann@acme.example", "acme")
    bob = await panel.logged_in("bob@blue.example", "blue")
    await bob.configure(configuration_form("blue.example", **{"initialUser.displayName": "Bob Blue", "pixelfed.enable": "on"}))
    deployed = await bob.deploy_reviewed()
    deployment_id = deployed.headers["location"].rsplit("/", 1)[1]
    submitted = (await panel.outbox())[-1]
    plan = submitted.caused(PlanCreated, "configurator", deployment_id=deployment_id, revision=1, domain="blue.example", resources=(), changes=())
    for service in ("mastodon", "pixelfed"):
        ref = f"secret://identity/blue-{service}"
        panel.vault.values[ref] = BOBS_PASSWORD
        await panel.apply(plan.caused(AccountCreated, "identity", deployment_id=deployment_id, resource_id=f"blue/{service}/account",
                                      service=service, username="bob", secret_ref=ref))
    await panel.apply(plan, plan.caused(DeploymentSucceeded, "orchestrator", deployment_id=deployment_id, revision=1, duration_seconds=1,
                                        urls={"mastodon": "https://mastodon.blue.example", "pixelfed": "https://pixelfed.blue.example"}))
    panel.context.trail.stored = [Traced(1, "config.submitted", submitted), Traced(2, "plan.created", plan)]
    await bob.configure(configuration_form("blue.example", **{"initialUser.displayName": "Bob Blue"}))  # a draft under review
    ann_token = re.search(r'id="token" class="secret">([^<]+)<', (await ann.submit("/account/token", "/account/token", {})).text).group(1)
    return ann, await panel.api(ann_token), bob, deployment_id


async def bobs_state(panel) -> tuple:
    async with panel.context.units.database.session() as session:
        draft = await session.get(Draft, "blue")
        accounts = [(c.service, c.revealed_at) for c in await Panel(session).admin_accounts("blue")]
        views = [(v.id, v.state) for v in await Panel(session).deployments("blue")]
    return draft.configuration_json, accounts, views, [m for m in await panel.outbox() if m.operator_id == "blue"]


async def test_operator_a_reaches_nothing_of_operator_b_through_any_page_or_api_route(panel, two_operators):
    ann, ann_api, _bob, bobs_deployment = two_operators
    before = await bobs_state(panel)
    values = {"deployment_id": bobs_deployment, "service": "pixelfed", "operator_id": "blue", "campaign_id": "bobs-campaign"}
    tried: set[tuple[str, str]] = set()
    bobs_things = ("blue.example", "Bob Blue", bobs_deployment, BOBS_PASSWORD, "bob@blue.example")

    for method, path in sorted(routes(panel.app)):
        if path in PUBLIC:
            continue
        tried.add((method, path))
        concrete = re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)
        if path.startswith("/api/"):
            response = await ann_api.request(method, concrete, json={"data": "keep", "confirm": "acme", **configuration_form()})
        elif method == "POST":
            response = await ann.submit("/", concrete, {"data": "keep", "confirm": "nobody", "reviewed": "x"})
        else:
            response = await ann.get(concrete)
        if "{" in path or path.startswith(("/admin", "/api/v1/admin")):
            assert response.status_code in (403, 404), (method, path, response.status_code)
        for thing in bobs_things:
            assert thing not in response.text, (method, path, thing)

    assert tried == routes(panel.app) - {(m, p) for m, p in routes(panel.app) if p in PUBLIC}
    for service in ("mastodon", "pixelfed"):
        assert (await ann.submit("/", f"/credentials/{service}/reveal", {})).status_code == 404
        assert (await ann_api.post(f"/api/v1/credentials/{service}/reveal")).status_code == 404
    assert await bobs_state(panel) == before, "nothing of Bob's changed"
    assert panel.vault.asked == [], "no password of Bob's was fetched"


async def test_a_form_without_its_csrf_token_or_with_another_sessions_token_is_refused(panel, two_operators):
    ann, _api, bob, _deployment = two_operators
    before = await bobs_state(panel)
    outbox = await panel.outbox()
    bobs_token = await bob.token("/")
    forms = sorted(path for method, path in routes(panel.app) if method == "POST" and not path.startswith("/api/"))
    assert {"/signup", "/login", "/logout", "/configure", "/deploy", "/account/delete", "/account/token",
            "/services/{service}/disable", "/credentials/{service}/reveal", "/maintenance/window", "/maintenance/{campaign_id}/apply-now",
            "/maintenance/{campaign_id}/defer", "/admin/campaigns/preview", "/admin/campaigns", "/admin/campaigns/{campaign_id}/control",
            "/deployments/{deployment_id}/retry", "/deployments/{deployment_id}/rollback",
            "/directory/check", "/directory/connect", "/directory/sync"} == set(forms)
    for path in forms:
        concrete = path.replace("{service}", "mastodon").replace("{campaign_id}", "any").replace("{deployment_id}", "any")
        data = {**configuration_form(), "email": "x@acme.example", "operator_id": "newop", "password": "long enough password",
                "confirm": "acme", "data": "delete"}
        missing = await ann.client.post(concrete, data=data)
        stolen = await ann.client.post(concrete, data={**data, "csrf_token": bobs_token})
        for response in (missing, stolen):
            assert response.status_code == 403 and "Form refused" in response.text, path
    assert await panel.outbox() == outbox and await bobs_state(panel) == before
    assert (await ann.get("/")).status_code == 200, "the refused log-out left the session alone"
    stranger = panel.browser()
    assert (await stranger.client.post("/login", data={"email": "ann@acme.example", "password": "x"})).status_code == 403


async def test_text_an_operator_typed_is_shown_as_text_everywhere(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    pages = []
    await ann.configure(configuration_form(**{"initialUser.displayName": SCRIPT}))
    pages.append(await ann.get("/configure"))
    pages.append(await ann.configure(configuration_form(domain=SCRIPT)))
    pages.append(await panel.browser().sign_up("x@acme.example", SCRIPT))
    pages.append(await panel.browser().log_in(SCRIPT))
    pages.append(await ann.submit("/account/delete", "/account/delete", {"confirm": SCRIPT}))
    await ann.configure(configuration_form(**{"initialUser.displayName": SCRIPT}))
    deployed = await ann.deploy_reviewed()
    deployment_id = deployed.headers["location"].rsplit("/", 1)[1]
    submitted = (await panel.outbox())[-1]
    await panel.apply(
        submitted.caused(DeploymentProgress, "orchestrator", deployment_id=deployment_id, step=f"acme/mastodon/{SCRIPT}", step_kind="vm",
                         state="failed", done=0, total=1, detail=SCRIPT),
        submitted.caused(ConfigRejected, "configurator", revision=1, problems=(Problem(field=SCRIPT, message=SCRIPT),)),
        submitted.caused(DeploymentFailed, "orchestrator", deployment_id=deployment_id, revision=1, failed_step=None, reason=SCRIPT),
    )
    panel.context.trail.stored = [Traced(1, "deployment.failed", submitted.caused(
        DeploymentFailed, "orchestrator", deployment_id=deployment_id, revision=1, failed_step=None, reason=SCRIPT))]
    for path in ("/", f"/deployments/{deployment_id}", "/deployments", f"/deployments/{deployment_id}/trace"):
        pages.append(await ann.get(path))
    admin = await panel.logged_in("staff@provider.example", "", role="provider-admin")
    pages += [await admin.get("/admin/operators"), await admin.get("/admin/operators/acme")]

    for page in pages:
        assert "<script>alert" not in page.text, page.url
        assert "<script" not in page.text.replace('<script src="/static/progress.js" defer></script>', ""), page.url
    assert all("&lt;script&gt;" in page.text or "&#39;owned" in page.text for page in pages[:4])
    assert sum("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page.text for page in pages) >= 6
    events = (await ann.get(f"/deployments/{deployment_id}/events")).text
    assert json.loads(events.split("data: ", 1)[1].splitlines()[0])["steps"][0]["detail"] == SCRIPT, "sent as data, shown with textContent"


async def test_every_response_forbids_inline_scripts_framing_and_sniffing(panel):
    browser = panel.browser()
    for path in ("/login", "/healthz", "/openapi.json", "/static/panel.css"):
        response = await browser.get(path)
        for header, value in SECURITY_HEADERS.items():
            assert response.headers[header] == value, (path, header)
    assert "script-src 'self'" in SECURITY_HEADERS["Content-Security-Policy"]


async def test_an_admin_password_never_reaches_the_logs_or_the_bus(panel, two_operators, capsys):
    _ann, _api, bob, deployment_id = two_operators
    revealed = await bob.submit(f"/deployments/{deployment_id}", "/credentials/mastodon/reveal", {})
    assert BOBS_PASSWORD in revealed.text
    captured = capsys.readouterr()
    assert "admin password revealed" in captured.out + captured.err
    assert BOBS_PASSWORD not in captured.out + captured.err
    assert all(BOBS_PASSWORD not in json.dumps(m.model_dump(mode="json")) for m in await panel.outbox())
    assert BOBS_PASSWORD not in revealed.url.path
