"""Security of the panel: one operator can reach nothing of another's through any page or API
route; every form needs its CSRF token; whatever an operator typed is shown as text, never markup;
an admin password is shown once and never lands in logs or events."""

import html
import json
import re
from dataclasses import dataclass
from itertools import product

import httpx
import pytest

from contracts.directory import DirectoryParameters
from contracts.events import (
    AccountCreated,
    BucketUsageReported,
    ConfigRejected,
    DeploymentFailed,
    DeploymentProgress,
    DeploymentSucceeded,
    DirectoryConnected,
    PlanCreated,
)
from contracts.resources import Problem
from runtime.event_chain import Traced
from services.panel.adapters.store import Draft, Panel
from services.panel.web.render import SECURITY_HEADERS
from tests.unit.test_panel_harness import Browser, configuration_form, panel, text_of  # noqa: F401
from tests.unit.test_panel_maintenance import notified

BOBS_PASSWORD = "bobs-admin-password-Zx81"
BOBS_UPDATE, BOBS_FAILURE = ("Blue's private update", "a reason only blue may read"), "Bob's VM would not start"
SCRIPT = "<script>alert('owned')</script>"

PUBLIC = "about no operator"
OWN = "the asker's own"
REFUSED = (403, 404)
ADMINS_ONLY = (403,)
ROUTES: dict[tuple[str, str], object] = {
    # What operator A gets from each route of the panel when every id and name in its path, query and body is operator B's:
    # PUBLIC routes are not tried; OWN ones answer with A's own things, whatever the status; the others are refused so.
    ("GET", "/healthz"): PUBLIC, ("GET", "/signup"): PUBLIC, ("POST", "/signup"): PUBLIC, ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC, ("POST", "/logout"): PUBLIC, ("GET", "/static"): PUBLIC, ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC, ("GET", "/redoc"): PUBLIC, ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/"): OWN,
    ("GET", "/configure"): OWN, ("POST", "/configure"): OWN, ("GET", "/review"): OWN,
    ("POST", "/deploy"): (409,),  # B's reviewed draft digest: not A's draft
    ("GET", "/services/{service}/disable"): REFUSED, ("POST", "/services/{service}/disable"): REFUSED,
    ("GET", "/deployments"): OWN,
    ("GET", "/deployments/{deployment_id}"): REFUSED, ("GET", "/deployments/{deployment_id}/events"): REFUSED,
    ("GET", "/deployments/{deployment_id}/trace"): REFUSED,
    ("POST", "/deployments/{deployment_id}/retry"): REFUSED, ("POST", "/deployments/{deployment_id}/rollback"): REFUSED,
    ("POST", "/credentials/{service}/reveal"): REFUSED,
    ("GET", "/account/token"): OWN, ("POST", "/account/token"): OWN,
    ("GET", "/account/delete"): OWN, ("POST", "/account/delete"): (422,),  # confirmed with B's name
    ("GET", "/maintenance"): OWN, ("POST", "/maintenance/window"): OWN,
    ("POST", "/maintenance/{campaign_id}/apply-now"): REFUSED, ("POST", "/maintenance/{campaign_id}/defer"): REFUSED,
    ("GET", "/directory"): OWN, ("POST", "/directory/check"): OWN, ("POST", "/directory/connect"): OWN, ("POST", "/directory/sync"): OWN,
    ("GET", "/admin/operators"): ADMINS_ONLY, ("GET", "/admin/operators/{operator_id}"): ADMINS_ONLY,
    ("GET", "/admin/bus"): ADMINS_ONLY, ("GET", "/admin/audit"): ADMINS_ONLY,
    ("GET", "/admin/campaigns"): ADMINS_ONLY, ("POST", "/admin/campaigns"): ADMINS_ONLY, ("GET", "/admin/campaigns/new"): ADMINS_ONLY,
    ("POST", "/admin/campaigns/preview"): ADMINS_ONLY, ("GET", "/admin/campaigns/{campaign_id}"): ADMINS_ONLY,
    ("POST", "/admin/campaigns/{campaign_id}/control"): ADMINS_ONLY,
    ("GET", "/api/v1/configuration"): OWN, ("POST", "/api/v1/configuration"): OWN, ("POST", "/api/v1/plan-preview"): OWN,
    ("POST", "/api/v1/services/{service}/disable"): REFUSED,
    ("GET", "/api/v1/deployments"): OWN,
    ("GET", "/api/v1/deployments/{deployment_id}"): REFUSED, ("GET", "/api/v1/deployments/{deployment_id}/trace"): REFUSED,
    ("POST", "/api/v1/deployments/{deployment_id}/retry"): REFUSED, ("POST", "/api/v1/deployments/{deployment_id}/rollback"): REFUSED,
    ("GET", "/api/v1/credentials"): OWN, ("POST", "/api/v1/credentials/{service}/reveal"): REFUSED,
    ("POST", "/api/v1/account/removal"): (422,),  # confirmed with B's name
    ("GET", "/api/v1/maintenance"): OWN, ("POST", "/api/v1/maintenance/choice"): REFUSED,  # B's campaign id in the body
    ("GET", "/api/v1/directory"): OWN, ("POST", "/api/v1/directory"): OWN, ("POST", "/api/v1/directory/check"): OWN,
    ("POST", "/api/v1/directory/sync"): OWN,
    ("GET", "/api/v1/admin/operators"): ADMINS_ONLY, ("GET", "/api/v1/admin/operators/{operator_id}"): ADMINS_ONLY,
    ("GET", "/api/v1/admin/bus-health"): ADMINS_ONLY, ("GET", "/api/v1/admin/audit"): ADMINS_ONLY,
}
BOBS_THINGS = ("blue.example", "Bob Blue", BOBS_PASSWORD, "bob@blue.example", *BOBS_UPDATE, BOBS_FAILURE, "ldap.blue.example", "fedi-blue-mastodon")
"""What only Bob's pages show (his ids are not here: Ann sends them, and may be told what she sent)."""


def routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            for method in getattr(context, "methods", None) or {"GET"}:
                if method != "HEAD":
                    found.add((method, context.path))
    return found


@dataclass
class TwoOperators:
    ann: Browser
    ann_api: httpx.AsyncClient
    bob: Browser
    deployment_id: str
    """Bob's deployment that succeeded, with passwords to reveal."""
    failed_id: str
    """Bob's newest deployment, which failed: he may try it again or go back."""


@pytest.fixture
async def two_operators(panel) -> TwoOperators:
    """Ann runs nothing yet; Bob runs Mastodon and Pixelfed on blue.example with passwords to reveal, a failed change after it,
    a draft under review, an update waiting for his choice, his own directory and a bucket's use reported."""
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

    await bob.configure(configuration_form("blue.example", **{"initialUser.displayName": "Bob Blue", "pixelfed.enable": "on",
                                                              "peertube.enable": "on"}))
    failed_id = (await bob.deploy_reviewed()).headers["location"].rsplit("/", 1)[1]
    resubmitted = (await panel.outbox())[-1]
    await panel.apply(resubmitted.caused(DeploymentFailed, "orchestrator", deployment_id=failed_id, revision=2, failed_step=None,
                                         reason=BOBS_FAILURE))
    await bob.configure(configuration_form("blue.example", **{"initialUser.displayName": "Bob Blue"}))  # a draft under review
    await panel.apply(
        notified("blue", "c-blue", title=BOBS_UPDATE[0], reason=BOBS_UPDATE[1]),
        DirectoryConnected(correlation_id="directory/blue/1", operator_id="blue", producer="identity", users=3, groups=1,
                           parameters=DirectoryParameters(url="ldaps://ldap.blue.example", bind_dn="cn=reader,dc=blue,dc=example",
                                                          base_dn="dc=blue,dc=example", mapping={"staff": {"mastodon": "users"}})),
        submitted.caused(BucketUsageReported, "storage", bucket="fedi-blue-mastodon", bytes=10, objects=1),
    )
    ann_token = re.search(r'id="token" class="secret">([^<]+)<', (await ann.submit("/account/token", "/account/token", {})).text).group(1)
    return TwoOperators(ann, await panel.api(ann_token), bob, deployment_id, failed_id)


async def bobs_state(panel) -> tuple:
    async with panel.context.units.database.session() as session:
        draft = await session.get(Draft, "blue")
        accounts = [(c.service, c.revealed_at) for c in await Panel(session).admin_accounts("blue")]
        views = [(v.id, v.state) for v in await Panel(session).deployments("blue")]
    return draft.configuration_json, accounts, views, [m for m in await panel.outbox() if m.operator_id == "blue"]


def test_every_route_of_the_panel_is_listed_with_what_another_operator_gets_from_it(panel):
    assert routes(panel.app) == set(ROUTES), "a new route needs its line in ROUTES (and is then tried by the test below)"
    assert not [route for route, expected in ROUTES.items() if expected is OWN and "{" in route[1]], "a route naming a thing refuses others'"


async def test_operator_a_reaches_nothing_of_operator_b_through_any_page_or_api_route(panel, two_operators):
    ann, ann_api, bob = two_operators.ann, two_operators.ann_api, two_operators.bob
    bobs_deployments = (two_operators.deployment_id, two_operators.failed_id)
    reviewed = re.search(r'name="reviewed" value="([^"]+)"', (await bob.get("/review")).text).group(1)
    bobs_pages = [html.unescape((await bob.get(page)).text)
                  for page in ("/", "/configure", "/maintenance", "/directory", *(f"/deployments/{d}" for d in bobs_deployments))]
    assert [thing for thing in BOBS_THINGS if not any(thing in page for page in bobs_pages)] == [BOBS_PASSWORD], "Bob sees his things"
    before, outbox = await bobs_state(panel), await panel.outbox()
    bobs = {"operator_id": "blue", "campaign_id": "c-blue", "confirm": "blue", "reviewed": reviewed, "resource_id": "blue/pixelfed/account",
            "secret_ref": "secret://identity/blue-pixelfed", "revision": "2", "notice": "notice"}
    each = {"deployment_id": bobs_deployments, "service": ("mastodon", "pixelfed")}
    asked = {"data": "keep", "kind": "apply_now", "defer_until": "2030-01-01", "action": "pause", "reason": "x"}

    for (method, path), expected in sorted(ROUTES.items()):
        if expected is PUBLIC:
            continue
        tried = [name for name in each if f"{{{name}}}" in path]
        for chosen in product(*(each[name] for name in tried)):
            ids = bobs | {name: values[-1] for name, values in each.items()} | dict(zip(tried, chosen))
            concrete = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)
            if path.startswith("/api/"):
                response = await ann_api.request(method, concrete, params=ids, json=asked | ids if method == "POST" else None)
            elif method == "POST":
                response = await ann.submit("/", f"{concrete}?{httpx.QueryParams(ids)}", asked | ids | configuration_form())
            else:
                response = await ann.get(f"{concrete}?{httpx.QueryParams(ids)}")
            if expected is not OWN:
                assert response.status_code in expected, (method, concrete, response.status_code, response.text[:300])
            shown = html.unescape(response.text)
            assert not [thing for thing in BOBS_THINGS if thing in shown], (method, concrete)

    assert await bobs_state(panel) == before, "nothing of Bob's changed"
    sent = [m.model_dump_json() for m in (await panel.outbox())[len(outbox):]]
    assert not [m for m in sent if any(bobs_id in m for bobs_id in (*bobs_deployments, "c-blue", "blue.example", '"blue"'))], sent
    assert panel.vault.asked == [], "no password of Bob's was fetched"
    assert not [q for q in panel.fleet.asked if "blue" in repr(q)] and not [a for a in panel.directory.asked if a[1] == "blue"]


async def test_a_form_without_its_csrf_token_or_with_another_sessions_token_is_refused(panel, two_operators):
    ann, bob = two_operators.ann, two_operators.bob
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
    bob, deployment_id = two_operators.bob, two_operators.deployment_id
    revealed = await bob.submit(f"/deployments/{deployment_id}", "/credentials/mastodon/reveal", {})
    assert BOBS_PASSWORD in revealed.text
    captured = capsys.readouterr()
    assert "admin password revealed" in captured.out + captured.err
    assert BOBS_PASSWORD not in captured.out + captured.err
    assert all(BOBS_PASSWORD not in json.dumps(m.model_dump(mode="json")) for m in await panel.outbox())
    assert BOBS_PASSWORD not in revealed.url.path
