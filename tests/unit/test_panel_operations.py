"""The provider admin's operations pages: the bus's live health (each consumer's backlog with the
lagging ones marked, the dead letters with their reasons, deployments that went quiet with their
last event) refreshing itself, and the audit log filtered by who and what, newest first."""

import re
from datetime import UTC, datetime, timedelta

from contracts.events import DeploymentProgress, DeploymentStarted, DeploymentSucceeded, PlanCreated
from runtime.audit import AuditRecord
from runtime.bus_health import BusHealth, ConsumerHealth
from services.panel.adapters.bus import DeadLetter
from tests.unit.test_panel_harness import configuration_form, panel, words  # noqa: F401



async def admin_of(panel):
    return await panel.logged_in("staff@provider.example", "", role="provider-admin")


async def deployed(panel, email: str, operator: str):
    """The operator deploys Mastodon; returns its deployment id and its config.submitted."""
    browser = await panel.logged_in(email, operator)
    await browser.configure(configuration_form(f"{operator}.example"))
    deployment_id = (await browser.deploy_reviewed()).headers["location"].rsplit("/", 1)[1]
    return deployment_id, (await panel.outbox())[-1]


def heard(cause, deployment_id: str, minutes_ago: float, *, step: str | None = None):
    """What the orchestrator said about the deployment that long ago: it started, or a step began."""
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    if step is None:
        return cause.caused(DeploymentStarted, "orchestrator", deployment_id=deployment_id, revision=1, total_steps=2, occurred_at=at)
    return cause.caused(DeploymentProgress, "orchestrator", deployment_id=deployment_id, step=step, step_kind=step.rsplit("/", 1)[1],
                        state="running", done=0, total=2, occurred_at=at)


def planned_at(cause, deployment_id: str, minutes_ago: float) -> PlanCreated:
    return cause.caused(PlanCreated, "configurator", deployment_id=deployment_id, revision=1, domain="x.example", resources=(), changes=(),
                        occurred_at=datetime.now(UTC) - timedelta(minutes=minutes_ago))


async def test_the_bus_health_page_shows_each_consumers_backlog_with_the_lagging_ones_marked(panel):
    panel.watch.state = BusHealth(5234, (
        ConsumerHealth("configurator-config-submitted", waiting=0, in_flight=1, redelivered=0),
        ConsumerHealth("orchestrator-plan-created", waiting=250, in_flight=8, redelivered=3),
    ), 0)
    admin = await admin_of(panel)

    page = (await admin.get("/admin/bus")).text

    rows = re.findall(r'<tr class="consumer( lagging)?" data-consumer="([\w-]+)">', page)
    assert rows == [("", "configurator-config-submitted"), (" lagging", "orchestrator-plan-created")]
    shown = words(page)
    assert "configurator-config-submitted 0 1 0" in shown
    assert "orchestrator-plan-created 250 8 3 lagging" in shown
    assert "needs attention" in shown and "5234 messages stored" in shown
    assert "Dead letters (0) None: every message was handled." in shown


async def test_the_dead_letters_are_listed_with_subject_consumer_reason_and_whose_they_are(panel):
    panel.watch.letters = [
        DeadLetter(42, "bucket.requested", "storage-bucket-requested", "Garage answered 403 AccessDenied <b>", "acme", "d-1"),
        DeadLetter(43, "plan.created", "orchestrator-plan-created", "not a valid message"),
    ]
    admin = await admin_of(panel)

    page = (await admin.get("/admin/bus")).text

    assert "Dead letters (2)" in words(page)
    assert "42 bucket.requested storage-bucket-requested Garage answered 403 AccessDenied <b> acme d-1" in words(page)
    assert "43 plan.created orchestrator-plan-created not a valid message unreadable" in words(page)
    assert "AccessDenied &lt;b&gt;" in page, "a reason is shown as text"
    assert '<a href="/admin/operators/acme">acme</a>' in page
    assert "fedi dlq replay" in words(page)


async def test_a_planned_or_running_deployment_quiet_for_longer_than_the_setting_is_shown_stuck_with_its_last_event(panel):
    stuck_id, stuck_submitted = await deployed(panel, "ann@acme.example", "acme")
    plan = planned_at(stuck_submitted, stuck_id, 40)
    await panel.apply(plan, heard(plan, stuck_id, 30), heard(plan, stuck_id, 25, step="acme/mastodon/vm"))
    busy_id, busy_submitted = await deployed(panel, "bob@blue.example", "blue")
    await panel.apply(heard(planned_at(busy_submitted, busy_id, 3), busy_id, 2, step="blue/mastodon/vm"))
    done_id, done_submitted = await deployed(panel, "cem@cyan.example", "cyan")
    await panel.apply(planned_at(done_submitted, done_id, 60), done_submitted.caused(
        DeploymentSucceeded, "orchestrator", deployment_id=done_id, revision=1, duration_seconds=9, urls={},
        occurred_at=datetime.now(UTC) - timedelta(minutes=50)))
    admin = await admin_of(panel)

    page = (await admin.get("/admin/bus")).text

    assert re.findall(r'<tr class="stuck" data-deployment="([\w-]+)">', page) == [stuck_id], "only the quiet one, not the busy or finished"
    shown = words(page)
    assert re.search(r"acme 1 in progress deployment\.progress acme/mastodon/vm \d{4}-\d\d-\d\d \d\d:\d\d UTC 25 min", shown), shown
    assert "no event for more than 10 minutes" in shown
    assert "needs attention" in shown


async def test_the_quiet_time_that_counts_as_stuck_is_a_setting(panel):
    deployment_id, submitted = await deployed(panel, "ann@acme.example", "acme")
    await panel.apply(planned_at(submitted, deployment_id, 25))
    panel.context.settings.stuck_minutes = 30
    admin = await admin_of(panel)

    shown = words((await admin.get("/admin/bus")).text)

    assert "Stuck deployments None: every planned or running deployment was heard from in the last 30 minutes." in shown
    assert "healthy" in shown and "needs attention" not in shown


async def test_the_bus_health_page_refreshes_itself_with_the_panels_own_script(panel):
    panel.context.settings.bus_refresh_seconds = 2.5
    admin = await admin_of(panel)

    page = await admin.get("/admin/bus")

    assert 'id="dashboard" data-live="yes" data-refresh="2.5"' in page.text
    assert '<script src="/static/dashboard.js" defer></script>' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text, "no inline script"
    assert (await admin.get("/static/dashboard.js")).status_code == 200


async def test_when_the_bus_does_not_answer_the_stuck_deployments_are_still_shown(panel):
    deployment_id, submitted = await deployed(panel, "ann@acme.example", "acme")
    await panel.apply(planned_at(submitted, deployment_id, 45))
    panel.watch.available = False
    admin = await admin_of(panel)

    page = await admin.get("/admin/bus")

    assert page.status_code == 200
    shown = words(page.text)
    assert "The bus did not answer" in shown
    assert re.search(r"acme 1 planned, about to start plan\.created .* 45 min", shown)


async def test_the_bus_health_is_for_provider_admins_only_and_linked_in_their_navigation(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    admin = await admin_of(panel)

    assert (await ann.get("/admin/bus")).status_code == 403
    assert (await panel.browser().get("/admin/bus")).headers["location"] == "/login"
    assert '<a href="/admin/bus">Bus health</a>' in (await admin.get("/admin/operators")).text
    assert '<a href="/admin/bus">' not in (await ann.get("/")).text


async def test_the_json_api_gives_admins_the_same_bus_health(panel):
    panel.watch.state = BusHealth(10, (ConsumerHealth("panel-plan-created", waiting=101, in_flight=0, redelivered=2),), 0)
    panel.watch.letters = [DeadLetter(7, "plan.created", "panel-plan-created", "not a valid message")]
    deployment_id, submitted = await deployed(panel, "ann@acme.example", "acme")
    await panel.apply(planned_at(submitted, deployment_id, 11))
    admin = await admin_of(panel)
    token = re.search(r'id="token" class="secret">([^<]+)<', (await admin.submit("/account/token", "/account/token", {})).text).group(1)

    health = (await (await panel.api(token)).get("/api/v1/admin/bus-health")).json()

    assert health["healthy"] is False
    assert health["consumers"] == [{"name": "panel-plan-created", "waiting": 101, "in_flight": 0, "redelivered": 2, "lagging": True}]
    assert health["dead_letters"] == [{"sequence": 7, "meant_for": "plan.created", "consumer": "panel-plan-created", "reason": "not a valid message",
                                       "operator_id": "", "correlation_id": ""}]
    assert [(s["deployment_id"], s["last_event_type"]) for s in health["stuck"]] == [(deployment_id, "plan.created")]


async def test_the_audit_log_page_shows_who_did_what_newest_first_filtered_by_actor_and_action(panel):
    moment = datetime.now(UTC)
    panel.auditor.records = [
        AuditRecord(at=moment - timedelta(hours=3), source="panel", actor="ann@acme.example", action="login", target="acme", details={"client": "10.0.0.1"}),
        AuditRecord(at=moment - timedelta(hours=2), source="cli", actor="ops", action="dlq.replayed", target="#7", details={"subject": "plan.created"}),
        AuditRecord(at=moment - timedelta(hours=1), source="panel", actor="x@acme.example", action="login", outcome="refused",
                    details={"reason": "wrong e-mail address or password"}),
    ]
    admin = await admin_of(panel)

    everything = (await admin.get("/admin/audit")).text
    logins = (await admin.get("/admin/audit?action=login")).text
    anns = (await admin.get("/admin/audit?actor=ann@acme.example")).text

    assert re.findall(r"<code>([\w.]+)</code>", everything) == ["login", "dlq.replayed", "login"], "newest first"
    assert "x@acme.example login refused" in words(everything)
    assert "cli ops dlq.replayed #7 subject: plan.created" in words(everything)
    assert re.findall(r"<code>([\w.]+)</code>", logins) == ["login", "login"]
    assert "dlq.replayed" not in anns and "ann@acme.example login acme client: 10.0.0.1" in words(anns)
    assert 'value="ann@acme.example"' in anns, "the filter is kept in the form"


async def test_the_audit_log_looks_back_as_far_as_chosen(panel):
    moment = datetime.now(UTC)
    panel.auditor.records = [
        AuditRecord(at=moment - timedelta(days=20), source="panel", actor="ann@acme.example", action="signup", target="acme"),
        AuditRecord(at=moment - timedelta(hours=1), source="panel", actor="ann@acme.example", action="login", target="acme"),
    ]
    admin = await admin_of(panel)

    week = (await admin.get("/admin/audit")).text
    month = (await admin.get("/admin/audit?days=30")).text

    assert "signup" not in week and "login" in week
    assert "signup" in month and '<option value="30" selected>' in month


async def test_the_audit_log_is_for_provider_admins_only_and_says_when_it_cannot_be_read(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    admin = await admin_of(panel)
    assert (await ann.get("/admin/audit")).status_code == 403
    assert '<a href="/admin/audit">Audit log</a>' in (await admin.get("/admin/operators")).text

    panel.auditor.available = False
    page = await admin.get("/admin/audit")

    assert page.status_code == 503 and "The audit log cannot be read right now" in words(page.text)
