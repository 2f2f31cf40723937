"""Following a deployment: each step with its state, the overall percentage and time left, the
addresses and a one-time password reveal on success, what failed and why on failure, the history,
the trace of its events; the provider's view of every operator; the JSON API doing the same."""

import asyncio
import json
import re
import uuid
from contextlib import asynccontextmanager

import httpx
import pytest

from contracts.events import (
    AccountCreated,
    BucketUsageReported,
    ConfigRejected,
    DeploymentFailed,
    DeploymentProgress,
    DeploymentStarted,
    DeploymentSucceeded,
    PlanCreated,
)
from contracts.resources import (AccountResource, AccountSpec, BucketResource, BucketSpec, DnsRecordSpec, DnsResource, NixosResource,
                                 NixosSpec, Problem, VmResource, VmSpec)
from runtime.event_chain import Traced
from services.panel import projections
from tests.unit.test_panel_harness import PASSWORD, configuration_form, panel, text_of, words  # noqa: F401

PASSWORD_OF_ALICE = "Vq3-generated-admin-password"
VM = VmResource(id="acme/mastodon/vm", service="mastodon", spec=VmSpec(name="acme-mastodon", cores=2, memory_mib=4096, disk_gib=40, tags=()))
ACCOUNT = AccountResource(id="acme/mastodon/account", service="mastodon", spec=AccountSpec(username="alice", email="a@acme.example", display_name="A"))
EVERY_KIND = (
    VM,
    BucketResource(id="acme/mastodon/bucket", service="mastodon", spec=BucketSpec(name="fedi-acme-mastodon")),
    ACCOUNT,
    DnsResource(id="acme/mastodon/dns/host", service="mastodon", depends_on=(VM.id,),
                spec=DnsRecordSpec(zone="acme.example.", name="mastodon.acme.example.", type="A", address_of=VM.id)),
    NixosResource(id="acme/mastodon/nixos", service="mastodon", depends_on=(VM.id, "acme/mastodon/bucket", ACCOUNT.id, "acme/mastodon/dns/host"),
                  spec=NixosSpec(vm=VM.id, config={})),
)
"""What a Mastodon deployment makes, one step of each kind the progress page shows."""


async def deploy(panel, browser) -> tuple[str, object]:
    """Configures Mastodon for acme, deploys, and returns the deployment id and its config.submitted."""
    await browser.configure(configuration_form())
    response = await browser.deploy_reviewed()
    submitted = (await panel.outbox())[-1]
    return response.headers["location"].rsplit("/", 1)[1], submitted


def planned(submitted, deployment_id: str, resources=(VM, ACCOUNT)) -> PlanCreated:
    return submitted.caused(
        PlanCreated, "configurator", deployment_id=deployment_id, revision=1, domain="acme.example", changes=(), resources=resources,
    )


def step(cause, deployment_id: str, resource: str, state: str, done: int, eta: float | None = None, detail: str = "", total: int = 2):
    return cause.caused(
        DeploymentProgress, "orchestrator", deployment_id=deployment_id, step=resource, step_kind=resource.split("/")[2],
        state=state, done=done, total=total, eta_seconds=eta, detail=detail,
    )


class Streaming(httpx.AsyncBaseTransport):
    """Hands the app's answer over while it is being sent, as a browser's EventSource reads it
    (httpx's ASGITransport hands it over once it has ended)."""

    def __init__(self, app) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent: asyncio.Queue = asyncio.Queue()
        closed = asyncio.Event()
        body = [await request.aread()]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method, "scheme": request.url.scheme,
            "path": request.url.path, "raw_path": request.url.raw_path.split(b"?")[0], "query_string": request.url.query, "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.headers.raw], "client": ("127.0.0.1", 50000),
            "server": (request.url.host, request.url.port or 80),
        }

        async def receive() -> dict:
            if body:
                return {"type": "http.request", "body": body.pop(), "more_body": False}
            await closed.wait()
            return {"type": "http.disconnect"}

        async def run() -> None:
            try:
                await self.app(scope, receive, sent.put)
            finally:
                await sent.put({"type": "http.response.body", "more_body": False})

        app = asyncio.create_task(run())
        start = await sent.get()
        if start["type"] != "http.response.start":
            await app  # raises what the app raised before answering
        return httpx.Response(start["status"], headers=start["headers"], stream=_AsSent(sent, closed, app))


class _AsSent(httpx.AsyncByteStream):
    def __init__(self, sent: asyncio.Queue, closed: asyncio.Event, app: asyncio.Task) -> None:
        self.sent, self.closed, self.app = sent, closed, app

    async def __aiter__(self):
        while True:
            message = await self.sent.get()
            yield message.get("body", b"")
            if not message.get("more_body"):
                return

    async def aclose(self) -> None:
        self.closed.set()
        await self.app


@asynccontextmanager
async def live_events(panel, browser, deployment_id: str):
    """The progress page's event stream, opened as the page opens it; each `anext` is the next event sent."""
    async with httpx.AsyncClient(transport=Streaming(panel.app), base_url=browser.client.base_url, cookies=browser.client.cookies) as client:
        async with client.stream("GET", f"/deployments/{deployment_id}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")

            async def events():
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        yield json.loads(line[5:])

            yield events()


async def succeeded(panel, deployment_id: str, submitted) -> PlanCreated:
    plan = planned(submitted, deployment_id)
    account = plan.caused(AccountCreated, "identity", deployment_id=deployment_id, resource_id="acme/mastodon/account",
                          service="mastodon", username="alice", secret_ref="secret://identity/alice")
    panel.vault.values["secret://identity/alice"] = PASSWORD_OF_ALICE
    await panel.apply(
        plan, step(plan, deployment_id, "acme/mastodon/vm", "done", 1), account,
        step(plan, deployment_id, "acme/mastodon/account", "done", 2),
        plan.caused(DeploymentSucceeded, "orchestrator", deployment_id=deployment_id, revision=1, duration_seconds=12.5,
                    urls={"mastodon": "https://mastodon.acme.example"}),
    )
    return plan


async def test_the_progress_page_shows_each_step_the_percentage_and_the_time_left(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    first = words((await browser.get(f"/deployments/{deployment_id}")).text)
    assert "Sent to be planned 0 %" in first and "Working out the plan" in first

    plan = planned(submitted, deployment_id)
    await panel.apply(plan, plan.caused(DeploymentStarted, "orchestrator", deployment_id=deployment_id, revision=1, total_steps=2),
                      step(plan, deployment_id, "acme/mastodon/vm", "done", 1, eta=150, detail="VM 101 running at 10.0.0.5"),
                      step(plan, deployment_id, "acme/mastodon/account", "running", 1, eta=150))
    page = await browser.get(f"/deployments/{deployment_id}")
    shown = words(page.text)
    assert "In progress 50 % about 2 minutes left" in shown
    assert "Virtual machine for Mastodon done VM 101 running at 10.0.0.5" in shown
    assert "Admin account for Mastodon in progress" in shown
    assert f'data-events="/deployments/{deployment_id}/events"' in page.text and 'data-final="no"' in page.text


async def test_a_stream_opened_after_the_end_sends_the_outcome_once_and_closes(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    await succeeded(panel, deployment_id, submitted)
    response = await browser.get(f"/deployments/{deployment_id}/events")
    assert response.headers["content-type"].startswith("text/event-stream")
    [event] = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    assert (event["state"], event["percent"], event["final"], event["eta"]) == ("succeeded", 100, True, "finished")
    assert [s["state_text"] for s in event["steps"]] == ["done", "done"]


async def test_every_step_is_streamed_while_the_deployment_runs_with_the_percentage_rising(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    plan = planned(submitted, deployment_id, EVERY_KIND)
    ids = [resource.id for resource in EVERY_KIND]

    async with live_events(panel, browser, deployment_id) as stream:
        async def after(event) -> dict:
            """What the stream sends once `event` has arrived from the bus (a deadline, not a pause)."""
            await panel.apply(event)
            return await asyncio.wait_for(anext(stream), 10)

        seen = [await asyncio.wait_for(anext(stream), 10)]
        seen.append(await after(plan))
        seen.append(await after(plan.caused(DeploymentStarted, "orchestrator", deployment_id=deployment_id, revision=1, total_steps=5)))
        seen.append(await after(step(plan, deployment_id, VM.id, "running", 0, eta=200, total=5)))
        for done, resource in enumerate(ids, start=1):
            seen.append(await after(step(plan, deployment_id, resource, "done", done, eta=40 * (5 - done), total=5)))
        seen.append(await after(plan.caused(DeploymentSucceeded, "orchestrator", deployment_id=deployment_id, revision=1,
                                            duration_seconds=30.0, urls={"mastodon": "https://mastodon.acme.example"})))
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(stream), 10)

    assert [(e["state"], e["percent"], e["eta"], e["final"]) for e in seen] == [
        ("submitted", 0, "estimating the time left…", False),
        ("planned", 0, "estimating the time left…", False),
        ("running", 0, "estimating the time left…", False),
        ("running", 0, "about 3 minutes left", False),
        ("running", 20, "about 3 minutes left", False),
        ("running", 40, "about 2 minutes left", False),
        ("running", 60, "about 1 minute left", False),
        ("running", 80, "less than a minute left", False),
        ("running", 100, "less than a minute left", False),
        ("succeeded", 100, "finished", True),
    ]
    assert [[s["state_text"] for s in e["steps"]] for e in seen[1:]] == [
        ["waiting"] * 5,
        ["waiting"] * 5,
        ["in progress", "waiting", "waiting", "waiting", "waiting"],
        ["done", "waiting", "waiting", "waiting", "waiting"],
        ["done", "done", "waiting", "waiting", "waiting"],
        ["done", "done", "done", "waiting", "waiting"],
        ["done", "done", "done", "done", "waiting"],
        ["done"] * 5,
        ["done"] * 5,
    ]
    assert [s["label"] for s in seen[-1]["steps"]] == [
        "Virtual machine for Mastodon", "Media storage for Mastodon", "Admin account for Mastodon", "DNS record (host) for Mastodon",
        "System configuration for Mastodon",
    ]


async def test_on_success_the_addresses_are_shown_and_the_admin_password_can_be_revealed_once(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    await succeeded(panel, deployment_id, submitted)
    page = await browser.get(f"/deployments/{deployment_id}")
    assert '<a href="https://mastodon.acme.example"' in page.text
    assert "Show the Mastodon password once" in page.text and PASSWORD_OF_ALICE not in page.text

    revealed = await browser.submit(f"/deployments/{deployment_id}", "/credentials/mastodon/reveal", {})
    assert revealed.status_code == 200 and PASSWORD_OF_ALICE in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    again = await browser.submit(f"/deployments/{deployment_id}", "/credentials/mastodon/reveal", {})
    assert again.status_code == 410 and PASSWORD_OF_ALICE not in again.text
    for path in ("/", f"/deployments/{deployment_id}", "/deployments", f"/deployments/{deployment_id}/events"):
        later = (await browser.get(path)).text
        assert PASSWORD_OF_ALICE not in later, path
    assert "shown once on" in words((await browser.get("/")).text)
    assert panel.vault.asked == ["secret://identity/alice"], "identity was asked once"
    assert all(PASSWORD_OF_ALICE not in json.dumps(m.model_dump(mode="json")) for m in await panel.outbox())


async def test_a_password_that_could_not_be_fetched_is_not_counted_as_shown(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    await succeeded(panel, deployment_id, submitted)
    panel.vault.values.clear()
    failed = await browser.submit(f"/deployments/{deployment_id}", "/credentials/mastodon/reveal", {})
    assert failed.status_code == 503 and "you can still see it once" in words(failed.text)
    panel.vault.values["secret://identity/alice"] = PASSWORD_OF_ALICE
    assert PASSWORD_OF_ALICE in (await browser.submit("/", "/credentials/mastodon/reveal", {})).text


async def test_a_password_made_again_can_be_revealed_once_more(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    plan = await succeeded(panel, deployment_id, submitted)
    await browser.submit("/", "/credentials/mastodon/reveal", {})
    await panel.apply(plan.caused(AccountCreated, "identity", deployment_id=deployment_id, resource_id="acme/mastodon/account",
                                  service="mastodon", username="alice", secret_ref="secret://identity/alice-2"))
    panel.vault.values["secret://identity/alice-2"] = "a-new-one"
    assert "a-new-one" in (await browser.submit("/", "/credentials/mastodon/reveal", {})).text


async def test_a_failed_deployment_says_what_failed_and_why_in_plain_words(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    plan = planned(submitted, deployment_id)
    await panel.apply(
        plan, step(plan, deployment_id, "acme/mastodon/vm", "failed", 0, detail="the host ran out of memory for new machines"),
        plan.caused(DeploymentFailed, "orchestrator", deployment_id=deployment_id, revision=1, failed_step="acme/mastodon/vm",
                    reason="acme/mastodon/vm: the host ran out of memory for new machines"),
    )
    shown = words((await browser.get(f"/deployments/{deployment_id}")).text)
    assert "This deployment failed" in shown
    assert "Virtual machine for Mastodon could not be completed: the host ran out of memory for new machines." in shown


async def test_a_refused_configuration_lists_the_reasons(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    await panel.apply(submitted.caused(ConfigRejected, "configurator", revision=1,
                                       problems=(Problem(field="domain", message="is used by another operator"),)))
    shown = words((await browser.get(f"/deployments/{deployment_id}")).text)
    assert "The configuration was refused" in shown and "domain: is used by another operator" in shown


async def test_the_history_lists_every_deployment_with_its_revision_and_outcome(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    first, submitted = await deploy(panel, browser)
    await succeeded(panel, first, submitted)
    second, submitted = await deploy(panel, browser)
    await panel.apply(submitted.caused(DeploymentFailed, "orchestrator", deployment_id=second, revision=2, failed_step=None, reason="the bus was down"))
    rows = re.findall(r"<tr class=\"state-(\w+)\">\s*<td>(\d+)</td>", (await browser.get("/deployments")).text)
    assert rows == [("failed", "2"), ("succeeded", "1")]
    assert "the bus was down" in text_of((await browser.get("/deployments")).text)


async def test_pages_open_while_an_event_is_being_recorded_and_show_it_once_it_is(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    async with panel.context.units() as uow:  # a consumer in the middle of recording the plan: it holds the write lock
        await projections.HANDLERS[PlanCreated](planned(submitted, deployment_id), uow)
        await uow.session.flush()
        for page in ("/", "/configure", "/deployments", f"/deployments/{deployment_id}"):
            assert (await browser.get(page)).status_code == 200, page
        assert "Working out the plan" in words((await browser.get(f"/deployments/{deployment_id}")).text)
        await uow.commit()
    assert "Working out the plan" not in words((await browser.get(f"/deployments/{deployment_id}")).text)


async def test_the_trace_page_shows_the_chain_of_events_each_under_its_cause(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    plan = planned(submitted, deployment_id)
    progress = step(plan, deployment_id, "acme/mastodon/vm", "done", 1)
    panel.context.trail.stored = [Traced(1, "config.submitted", submitted), Traced(2, "plan.created", plan), Traced(3, "deployment.progress", progress)]
    page = (await browser.get(f"/deployments/{deployment_id}/trace")).text
    depths = re.findall(r'class="depth-(\d+)"><code>([\w.]+)</code>', page)
    assert depths == [("0", "config.submitted"), ("1", "plan.created"), ("2", "deployment.progress")]
    assert "acme/mastodon/vm done" in text_of(page)


async def test_the_operator_sees_how_much_each_of_its_buckets_holds_and_nothing_of_anyone_elses(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    await succeeded(panel, deployment_id, submitted)
    ours = submitted.caused(BucketUsageReported, "storage", bucket="fedi-acme-mastodon", bytes=3 * 1024**3, objects=1200)
    theirs = ours.model_copy(update={"operator_id": "blue", "bucket": "fedi-blue-mastodon", "event_id": uuid.uuid4()})
    await panel.apply(ours, theirs)

    home = words((await browser.get("/")).text)

    assert "fedi-acme-mastodon : 3.0 GiB in 1200 files" in home
    assert "fedi-blue-mastodon" not in home


async def test_the_provider_sees_every_operator_with_deployment_states_and_storage_use(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    deployment_id, submitted = await deploy(panel, browser)
    await succeeded(panel, deployment_id, submitted)
    await panel.logged_in("bob@blue.example", "blue")
    usage = submitted.caused(BucketUsageReported, "storage", bucket="fedi-acme-mastodon", bytes=3 * 1024**3, objects=1200)
    stale = usage.model_copy(update={"bytes": 1, "objects": 1, "occurred_at": usage.occurred_at.replace(year=2000)})
    await panel.apply(usage, stale)
    admin = await panel.logged_in("staff@provider.example", "", role="provider-admin")

    listing = words((await admin.get("/admin/operators")).text)
    held = "1 VM (2 cores, 4.0 GiB memory, 40 GiB disk) · 0 buckets · 0 DNS records"
    assert f"acme ann@acme.example succeeded revision 1, 100 % 1 {held} 3.0 GiB · 1200 files · 1 bucket" in listing
    assert "blue bob@blue.example none 0 nothing deployed yet 0 bytes · 0 files · 0 buckets" in listing
    one = words((await admin.get("/admin/operators/acme")).text)
    assert "Domain acme.example ; services: Mastodon." in one
    assert "fedi-acme-mastodon 3.0 GiB 1200" in one
    assert PASSWORD_OF_ALICE not in one and "reveal" not in one
    assert (await admin.get("/admin/operators/nobody")).status_code == 404


async def test_the_json_api_does_what_the_pages_do(panel):
    browser = await panel.logged_in("ann@acme.example", "acme")
    token_page = await browser.submit("/account/token", "/account/token", {})
    token = re.search(r'id="token" class="secret">([^<]+)<', token_page.text).group(1)
    api = await panel.api(token)
    configuration = {"domain": "acme.example", "initialUser": {"username": "alice", "displayName": "A", "email": "a@acme.example"},
                     "mastodon": {"enable": True}, "pixelfed": {"enable": True}}

    preview = await api.post("/api/v1/plan-preview", json=configuration)
    assert preview.status_code == 200 and preview.json()["summary"] == "8 to create"
    assert (await api.post("/api/v1/plan-preview", json={**configuration, "domain": "x"})).status_code == 422
    submitted = await api.post("/api/v1/configuration", json=configuration)
    assert submitted.status_code == 202
    deployment_id = submitted.json()["deployment_id"]
    assert (await api.get("/api/v1/configuration")).json()["pixelfed"]["enable"] is True
    await succeeded(panel, deployment_id, (await panel.outbox())[-1])
    assert (await api.get(f"/api/v1/deployments/{deployment_id}")).json()["state"] == "succeeded"
    assert [d["id"] for d in (await api.get("/api/v1/deployments")).json()] == [deployment_id]
    panel.context.trail.stored = [Traced(1, "config.submitted", (await panel.outbox())[-1])]
    assert [e["type"] for e in (await api.get(f"/api/v1/deployments/{deployment_id}/trace")).json()] == ["config.submitted"]

    assert (await api.get("/api/v1/credentials")).json() == [{"service": "mastodon", "username": "alice", "revealed": False}]
    assert (await api.post("/api/v1/credentials/mastodon/reveal")).json()["password"] == PASSWORD_OF_ALICE
    assert (await api.post("/api/v1/credentials/mastodon/reveal")).status_code == 410

    disabled = await api.post("/api/v1/services/mastodon/disable", json={"data": "keep"})
    assert disabled.status_code == 202
    assert (await panel.outbox())[-1].configuration["mastodon"] == {**configuration["mastodon"], "enable": False, "dataOnDisable": "keep",
                                                                    "singleUserMode": False, "registrations": "approval"}
    assert (await api.post("/api/v1/account/removal", json={"confirm": "wrong"})).status_code == 422
    assert (await api.post("/api/v1/account/removal", json={"confirm": "acme"})).status_code == 202
    assert (await api.post("/api/v1/configuration", json=configuration)).status_code == 409

    paths = (await api.get("/openapi.json")).json()["paths"]
    assert {"/api/v1/configuration", "/api/v1/plan-preview", "/api/v1/deployments/{deployment_id}/trace", "/api/v1/credentials/{service}/reveal",
            "/api/v1/services/{service}/disable", "/api/v1/account/removal", "/api/v1/admin/operators"} <= set(paths)
    assert not any(path.startswith(("/configure", "/login")) for path in paths), "pages are not in the API document"


async def test_admin_tokens_open_the_admin_api_only(panel):
    admin = await panel.logged_in("staff@provider.example", "", role="provider-admin")
    token = re.search(r'id="token" class="secret">([^<]+)<', (await admin.submit("/account/token", "/account/token", {})).text).group(1)
    api = await panel.api(token)
    assert (await api.get("/api/v1/admin/operators")).status_code == 200
    assert (await api.get("/api/v1/deployments")).status_code == 403
    assert (await (await panel.api("fedi_not-a-token")).get("/api/v1/deployments")).status_code == 401
    assert PASSWORD not in (await api.get("/api/v1/admin/operators")).text
