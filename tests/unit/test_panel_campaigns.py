"""A provider admin and fleet-wide updates: a new update is checked field by field, previewed (who
is affected and how, who no longer fits, who is not affected) and only then sent; its dashboard
shows the state and why, the waves, every operator's part, choice and failure, what is left, and
steers it (pause, resume, cancel), every step audited. When the configurator is away the panel
says so and shows what it knows."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from contracts.fleet import (
    FLEET,
    CampaignControlRequested,
    CampaignOperatorStatus,
    CampaignPreviewReply,
    CampaignRefused,
    CampaignRequested,
    CampaignStatus,
    OperatorImpactSummary,
)
from tests.unit.test_panel_harness import panel, text_of, words  # noqa: F401
from tests.unit.test_panel_maintenance import CHANGE, notified

NOW = datetime.now(UTC)
DEADLINE = (NOW + timedelta(days=30)).date()



def campaign_form(**overrides: str) -> dict[str, str]:
    form = {
        "title": "Fediversity 25.05", "reason": "Security fixes in Mastodon", "category": "security", "notice_days": "7",
        "deadline": DEADLINE.isoformat(), "policy_changes": 'release: "25.05"\n', "canary": "1", "growth": "4", "soak_minutes": "60",
        "failure_threshold": "20",
    }
    return form | overrides


def previewed_digest(page: str) -> str:
    return re.search(r'name="previewed" value="([^"]*)"', page).group(1)


async def send(staff, preview_page: str, form: dict[str, str]):
    """Presses Send notices on a preview page (the form as it is now, with the preview's digest)."""
    return await staff.client.post("/admin/campaigns", data={
        **form, "csrf_token": await staff.token("/admin/campaigns/new"), "previewed": previewed_digest(preview_page)})


def status(**fields) -> CampaignStatus:
    values = dict(
        campaign_id="c1", title="Fediversity 25.05", reason="Security fixes in Mastodon", category="security", state="running",
        state_reason="", paused=False, requested_by="staff@provider.example", created_at=NOW, earliest_start=NOW + timedelta(days=7),
        deadline=NOW + timedelta(days=30), open_waves=1, wave_sizes=(1, 4), failure_threshold=0.2,
        operators=(
            CampaignOperatorStatus(operator_id="acme", wave=0, state="waiting", planned_start=datetime(2030, 6, 6, 1, 0, tzinfo=UTC), choice=None,
                                   deployment_id=None, reason="", changes=(CHANGE,), downtime_minutes=2),
            CampaignOperatorStatus(operator_id="blue", wave=1, state="failed", planned_start=None, choice="apply_now", deployment_id="d-9",
                                   reason="blue/mastodon/nixos: the switch failed", changes=(CHANGE,), downtime_minutes=2),
            CampaignOperatorStatus(operator_id="cyan", wave=1, state="started", planned_start=NOW, choice=None, deployment_id="d-8",
                                   reason="", changes=(CHANGE,), downtime_minutes=2),
        ),
    )
    return CampaignStatus(**(values | fields))


@pytest.fixture
async def staff(panel):
    return await panel.logged_in("staff@provider.example", "", role="provider-admin")


async def sent(panel, model) -> list:
    return [m for m in await panel.outbox() if isinstance(m, model)]


async def test_a_new_update_is_previewed_before_its_notices_are_sent(panel, staff):
    form = (await staff.get("/admin/campaigns/new")).text
    assert 'release: &#34;25.05&#34;' in form or 'release: "25.05"' in text_of(form)
    for example in ("sizes:", "proxmox:", "ssh_keys:"):
        assert example in form
    panel.fleet.previews[json.dumps({"release": "25.05"})] = CampaignPreviewReply(
        affected=(OperatorImpactSummary(operator_id="acme", changes=(CHANGE,), downtime_minutes=2),
                  OperatorImpactSummary(operator_id="blue", changes=(), downtime_minutes=0, problems=("domain: is no longer allowed",))),
        unaffected=3,
    )

    preview = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", campaign_form())
    shown = words(preview.text)
    assert preview.status_code == 200
    assert "1 operator to update · 1 whose configuration no longer fits · 3 not affected." in shown
    assert f"acme {CHANGE} about 2 minutes" in shown
    assert "blue : domain: is no longer allowed" in shown
    assert "Send notices" in shown and await sent(panel, CampaignRequested) == [], "a preview sends nothing"

    sending = await send(staff, preview.text, campaign_form())
    assert sending.status_code == 303
    campaign_id = sending.headers["location"].rsplit("/", 1)[1]
    [request] = await sent(panel, CampaignRequested)
    assert (request.correlation_id, request.operator_id, request.requested_by) == (campaign_id, FLEET, "staff@provider.example")
    assert (request.title, request.category, request.policy_changes, request.notice_days) == ("Fediversity 25.05", "security", {"release": "25.05"}, 7)
    assert request.deadline == datetime(DEADLINE.year, DEADLINE.month, DEADLINE.day, 23, 59, tzinfo=UTC)
    assert (request.waves.canary, request.waves.growth, request.waves.failure_threshold) == (1, 4, 0.2)
    [record] = panel.auditor.records
    assert (record.action, record.target, record.actor, record.details["changes"]) == ("campaign.requested", campaign_id, "staff@provider.example", "release")
    board = words((await staff.get(f"/admin/campaigns/{campaign_id}")).text)
    assert "State: sent, being scheduled" in board and "The configurator has not scheduled it yet." in board


async def test_mistakes_in_a_new_update_are_answered_next_to_their_fields_and_what_was_typed_stays(panel, staff):
    typed = campaign_form(title="", policy_changes="release: [25.05\n", notice_days="soon", deadline="2001-01-01", growth="0.5",
                          failure_threshold="150", category="urgent")
    response = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", typed)

    assert response.status_code == 422
    page = response.text
    for name, problem in (("title", "is required"), ("policy_changes", "is not valid YAML (line 2)"), ("notice_days", "must be a number"),
                          ("growth", "must be at least 1"), ("failure_threshold", "must be at most 100"),
                          ("category", "must be one of the choices offered")):
        field = page[page.index(f'id="f-{name}"'):]
        field = field[: field.index("</div>") if name != "category" else field.index("</fieldset>")]
        assert problem in text_of(field), name
    assert "release: [25.05" in page and 'value="soon"' in page
    assert panel.fleet.asked == [], "nothing is previewed before the form is right"
    past = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", campaign_form(deadline="2001-01-01"))
    assert "must be a day after today" in words(past.text)
    short = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", campaign_form(
        notice_days="20", deadline=(NOW + timedelta(days=5)).date().isoformat()))
    assert "must not come before the notice period ends (20 days from today)" in words(short.text)
    for text, problem in (("just words", "must say what changes"), ("when: 2030-01-01", "put dates in quotes")):
        answer = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", campaign_form(policy_changes=text))
        assert problem in words(answer.text), text


async def test_policy_changes_the_configurator_finds_invalid_are_shown_and_cannot_be_sent(panel, staff):
    panel.fleet.previews[json.dumps({"sizes": {"mastodon": {"cores": 0}}})] = CampaignPreviewReply(
        problems=("sizes.mastodon.cores: must be at least 1",))
    preview = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", campaign_form(policy_changes="sizes:\n  mastodon:\n    cores: 0"))

    assert "These policy changes are not valid; nothing can be sent: sizes.mastodon.cores: must be at least 1" in words(preview.text)
    assert "Send notices" not in preview.text


async def test_a_form_changed_after_its_preview_is_previewed_again_instead_of_sent(panel, staff):
    preview = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", campaign_form())
    changed = await send(staff, preview.text, campaign_form(policy_changes="ssh_keys:\n  generation: 2"))

    assert changed.status_code == 200 and "The form changed since its preview" in words(changed.text)
    assert await sent(panel, CampaignRequested) == []
    assert panel.fleet.asked[-1] == ("preview", {"ssh_keys": {"generation": 2}})


async def test_the_dashboard_shows_the_state_waves_every_operator_and_what_is_left(panel, staff):
    acme = await panel.logged_in("ann@acme.example", "acme")
    await panel.apply(notified())
    await acme.submit("/maintenance", "/maintenance/window", {"day": "thursday", "start": "03:00", "duration_minutes": "120", "timezone": "Europe/Amsterdam"})
    panel.fleet.campaigns = [status()]

    page = (await staff.get("/admin/campaigns/c1")).text
    shown = words(page)
    assert "State: running" in shown and "security" in shown
    assert "1 operator · open" in shown and "4 operators · not open yet" in shown
    rows = {row: words(cells) for row, cells in re.findall(r'data-operator="(\w+)">(.*?)</tr>', page, flags=re.S)}
    assert rows["acme"] == "acme 1 waiting for its time 2030-06-06 01:00 UTC own window: Thursdays from 03:00 for 2 hours (Europe/Amsterdam) about 2 minutes"
    assert rows["blue"].endswith("failed — apply now about 2 minutes System configuration for Mastodon could not be completed: the switch failed")
    assert "being updated" in rows["cyan"]
    assert "1 waiting, 1 being updated, 0 updated, 1 failed." in shown and "1 of 2 waves open." in shown
    assert "Pause" in shown and "Cancel the update" in shown and "Resume" not in shown
    assert 'data-live="yes"' in page and '<script src="/static/dashboard.js" defer></script>' in page
    listing = words((await staff.get("/admin/campaigns")).text)
    assert "Fediversity 25.05 security running" in listing


async def test_a_part_that_started_shows_no_planned_start_and_a_finished_update_names_who_is_not_updated(panel, staff):
    acme, blue, cyan = status().operators
    finished = (acme.model_copy(update={"state": "completed"}),  # it started in a window open at once, not at its planned start
                blue.model_copy(update={"state": "rolled_back", "planned_start": NOW + timedelta(days=3)}),
                cyan.model_copy(update={"state": "waiting", "planned_start": None}))
    panel.fleet.campaigns = [status(operators=finished)]
    page = (await staff.get("/admin/campaigns/c1")).text
    cells = dict(re.findall(r'data-operator="(\w+)">.*?<td class="planned-start">(.*?)</td>', page, flags=re.S))
    assert cells == {"acme": "—", "blue": "—", "cyan": "after its wave opens"}

    panel.fleet.campaigns = [status(state="completed", open_waves=2, operators=finished[:2])]
    shown = words((await staff.get("/admin/campaigns/c1")).text)
    assert "0 waiting, 0 being updated, 1 updated, 1 failed. 2 of 2 waves open. Nothing more starts; 1 failed operator is not updated." in shown
    assert "Nothing left to do" not in shown

    panel.fleet.campaigns = [status(state="completed", open_waves=2, operators=finished[:1])]
    assert "0 waiting, 0 being updated, 1 updated, 0 failed. 2 of 2 waves open. Nothing left to do." in words((await staff.get("/admin/campaigns/c1")).text)


async def test_pause_resume_and_cancel_are_sent_and_audited_when_they_apply(panel, staff):
    panel.fleet.campaigns = [status()]
    paused = await staff.submit("/admin/campaigns/c1", "/admin/campaigns/c1/control", {"action": "pause"})
    assert paused.status_code == 303
    not_now = await staff.submit("/admin/campaigns/c1", "/admin/campaigns/c1/control", {"action": "resume"})
    assert not_now.status_code == 409 and "cannot be told to resume" in words(not_now.text)

    panel.fleet.campaigns = [status(state="halted", state_reason="2 of 4 operators failed in wave 2 (more than 20% may not)")]
    board = words((await staff.get("/admin/campaigns/c1")).text)
    assert "State: halted Why: 2 of 4 operators failed in wave 2 (more than 20% may not)" in board
    assert "Resume" in board and "Pause" not in board
    await staff.submit("/admin/campaigns/c1", "/admin/campaigns/c1/control", {"action": "resume"})
    await staff.submit("/admin/campaigns/c1", "/admin/campaigns/c1/control", {"action": "cancel"})

    assert [(m.campaign_id, m.action, m.operator_id, m.requested_by) for m in await sent(panel, CampaignControlRequested)] == [
        ("c1", "pause", FLEET, "staff@provider.example"), ("c1", "resume", FLEET, "staff@provider.example"),
        ("c1", "cancel", FLEET, "staff@provider.example")]
    assert [r.action for r in panel.auditor.records] == ["campaign.pause", "campaign.resume", "campaign.cancel"]
    assert (await staff.submit("/admin/campaigns/c1", "/admin/campaigns/nope/control", {"action": "pause"})).status_code == 404


async def test_a_refused_update_says_why_and_stops_refreshing(panel, staff):
    preview = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", campaign_form())
    sending = await send(staff, preview.text, campaign_form())
    [request] = await sent(panel, CampaignRequested)
    await panel.apply(request.caused(CampaignRefused, "configurator", campaign_id=request.correlation_id, problems=("deadline: it has passed already",)))

    page = (await staff.get(sending.headers["location"])).text
    assert "State: refused" in words(page) and "deadline: it has passed already" in words(page)
    assert 'data-live="no"' in page


async def test_when_the_configurator_does_not_answer_the_panel_says_so_and_shows_what_it_knows(panel, staff):
    preview = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", campaign_form())
    await send(staff, preview.text, campaign_form())
    panel.fleet.available = False

    listing = words((await staff.get("/admin/campaigns")).text)
    assert "The configurator did not answer" in listing and "Fediversity 25.05 security sent, being scheduled" in listing
    unavailable = await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", campaign_form(title="Another"))
    assert unavailable.status_code == 503 and "nothing was sent" in words(unavailable.text) and 'value="Another"' in unavailable.text
    assert (await staff.get("/admin/campaigns/unknown")).status_code == 404
