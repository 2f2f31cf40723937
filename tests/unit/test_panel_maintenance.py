"""An operator and provider updates: notices arrive in an inbox (newest first, unread marked and
counted in the navigation), each update shows what changes, why, the downtime, the planned start and
the deadline; the operator picks a weekly window, applies an update now or defers it, and sees what
the configurator refused. Events may come in any order, or twice. The JSON API does the same."""

import re
from datetime import UTC, datetime, timedelta
from itertools import permutations

import pytest

from contracts.catalogue import consumed_by
from contracts.events import PlanCreated
from contracts.fleet import (
    CampaignChoiceRefused,
    CampaignOperatorCompleted,
    CampaignOperatorFailed,
    CampaignOperatorNotified,
    CampaignOperatorRolledBack,
    CampaignOperatorStarted,
    CampaignScheduled,
    CampaignStateChanged,
    MaintenanceWindowChosen,
    WeeklyWindow,
)
from services.panel.adapters.maintenance import Fleetwide
from services.panel.maintenance import overview
from services.panel.projections import HANDLERS
from tests.unit.test_panel_harness import panel, text_of, words  # noqa: F401

NOW = datetime.now(UTC)
DEFAULT_WINDOW = WeeklyWindow(day="sunday", start="02:00", duration_minutes=240, timezone="UTC")
CHANGE = "Mastodon: the NixOS configuration changes (release 24.11 -> 25.05)"



def notified(operator: str = "acme", campaign_id: str = "c1", notice: str = "notice", after: timedelta = timedelta(0), **fields) -> CampaignOperatorNotified:
    values = dict(
        title="Fediversity 25.05", reason="Security fixes in Mastodon", category="routine", changes=(CHANGE,), downtime_minutes=2,
        deadline=NOW + timedelta(days=30), defer_limit=NOW + timedelta(days=30), window=DEFAULT_WINDOW,
        planned_start=datetime(2030, 6, 2, 2, 0, tzinfo=UTC),
    ) | fields
    return CampaignOperatorNotified(correlation_id=campaign_id, operator_id=operator, producer="configurator", campaign_id=campaign_id,
                                    notice=notice, occurred_at=NOW - timedelta(hours=1) + after, **values)


def part_event(model, operator: str = "acme", campaign_id: str = "c1", after: timedelta = timedelta(0), **fields):
    return model(correlation_id=campaign_id, operator_id=operator, producer="configurator", campaign_id=campaign_id,
                 occurred_at=NOW + after, **fields)


def section(page: str, marker: str) -> str:
    """The part of the page from `marker` to the end of the card it is in."""
    start = page.index(marker)
    return page[start:page.index("</article>", start)]


@pytest.fixture
async def ann(panel):
    return await panel.logged_in("ann@acme.example", "acme")


async def sent(panel, model=MaintenanceWindowChosen) -> list:
    return [m for m in await panel.outbox() if isinstance(m, model)]


async def test_a_notice_shows_what_changes_why_the_downtime_the_planned_start_and_the_deadline(panel, ann):
    await panel.apply(notified(window=WeeklyWindow(day="sunday", start="04:00", duration_minutes=240, timezone="Europe/Amsterdam")))

    home = words((await ann.get("/")).text)
    assert "Maintenance 1 new" in home, "the navigation counts the unread notice"
    page = (await ann.get("/maintenance")).text
    shown = words(page)
    assert "Fediversity 25.05" in shown and CHANGE in shown and "Why: Security fixes in Mastodon" in shown
    assert "Expected downtime about 2 minutes" in shown
    assert "Planned start Sunday 2 June 2030, 04:00 Europe/Amsterdam (02:00 UTC)" in shown
    assert "Window Sundays from 04:00 for 4 hours (Europe/Amsterdam)" in shown
    assert f"Deadline {(NOW + timedelta(days=30)):%Y-%m-%d %H:%M} UTC" in shown
    assert 'class="card notice unread"' in page and "new New update: Fediversity 25.05" in shown
    assert "Apply now" in shown and "Defer until" in shown

    again = await ann.get("/maintenance")
    assert 'class="card notice unread"' not in again.text, "seen once, no longer unread"
    assert "Maintenance 1 new" not in words((await ann.get("/")).text)


async def test_notices_are_newest_first_a_redelivered_one_is_shown_once_and_the_newest_says_when(panel, ann):
    first = notified(planned_start=None)
    reminder = notified(notice="reminder", after=timedelta(minutes=10), planned_start=None)
    rescheduled = notified(notice="rescheduled", after=timedelta(minutes=20), planned_start=datetime(2030, 6, 9, 2, 0, tzinfo=UTC))
    await panel.apply(rescheduled, first, reminder, first)

    page = (await ann.get("/maintenance")).text
    kinds = re.findall(r"<strong>(New update|Reminder|New time): Fediversity 25.05</strong>", page)
    assert kinds == ["New time", "Reminder", "New update"]
    assert "Planned start Sunday 9 June 2030, 02:00 UTC" in words(page), "the newest notice's time, though it came first"


async def test_an_update_whose_wave_is_not_open_is_planned_after_the_first_wave(panel, ann):
    await panel.apply(notified(planned_start=None))
    assert "Planned start after the first wave" in words((await ann.get("/maintenance")).text)


async def test_a_chosen_window_is_sent_to_the_configurator_audited_and_shown_as_in_effect(panel, ann):
    await panel.apply(notified())
    response = await ann.submit("/maintenance", "/maintenance/window",
                                {"day": "thursday", "start": "3:00", "duration_minutes": "120", "timezone": "Europe/Amsterdam"})

    assert response.status_code == 303 and response.headers["location"] == "/maintenance"
    [chosen] = await sent(panel)
    assert chosen.operator_id == "acme" and chosen.campaign_id is None
    assert chosen.choice.kind == "window"
    assert chosen.choice.window == WeeklyWindow(day="thursday", start="03:00", duration_minutes=120, timezone="Europe/Amsterdam")
    [record] = panel.auditor.records
    assert (record.actor, record.action, record.target, record.details["day"]) == ("ann@acme.example", "maintenance.window", "acme", "thursday")
    page = (await ann.get("/maintenance")).text
    assert "Updates start in: Thursdays from 03:00 for 2 hours (Europe/Amsterdam)" in words(page)
    assert 'value="03:00"' in page and 'value="Europe/Amsterdam"' in page, "the form shows the window chosen"


async def test_a_window_with_mistakes_is_answered_next_to_each_field_and_what_was_typed_stays(panel, ann):
    typed = {"day": "someday", "start": "25:00", "duration_minutes": "30", "timezone": "Mars/Olympus_Mons"}
    response = await ann.submit("/maintenance", "/maintenance/window", typed)

    assert response.status_code == 422
    page = response.text
    for name, problem in (("day", "must be one of the choices offered"), ("start", "must be a time of day such as 02:00"),
                          ("duration_minutes", "must be at least 60 minutes"), ("timezone", "must be a time zone such as Europe/Amsterdam")):
        field = page[page.index(f'id="f-{name}"'):]
        field = field[: field.index("</div>")]
        assert problem in text_of(field), name
        assert 'aria-invalid="true"' in field, name
    for value in ("25:00", "30", "Mars/Olympus_Mons"):
        assert f'value="{value}"' in page
    assert await sent(panel) == [] and panel.auditor.records == []
    assert (await ann.submit("/maintenance", "/maintenance/window", {**typed, "duration_minutes": "lots"})).status_code == 422


async def test_a_window_the_configurator_refuses_is_shown_with_its_reason(panel, ann):
    await panel.apply(notified())
    await ann.submit("/maintenance", "/maintenance/window", {"day": "monday", "start": "01:00", "duration_minutes": "60", "timezone": "UTC"})
    [chosen] = await sent(panel)
    await panel.apply(chosen.caused(CampaignChoiceRefused, "configurator", campaign_id=None,
                                    reason="a maintenance window must be at least 90 minutes long"))

    shown = words((await ann.get("/maintenance")).text)
    assert "Your last window was refused: a maintenance window must be at least 90 minutes long" in shown
    assert "Updates start in: Sundays from 02:00 for 4 hours (UTC) (your provider's default)" in shown


async def test_apply_now_and_a_deferral_are_sent_for_a_waiting_update(panel, ann):
    await panel.apply(notified())
    now = await ann.submit("/maintenance", "/maintenance/c1/apply-now", {})
    day = (NOW + timedelta(days=10)).date().isoformat()
    later = await ann.submit("/maintenance", "/maintenance/c1/defer", {"defer_until": day})

    assert now.status_code == later.status_code == 303
    apply_now, deferral = await sent(panel)
    assert (apply_now.campaign_id, apply_now.choice.kind) == ("c1", "apply_now")
    assert (deferral.campaign_id, deferral.choice.kind) == ("c1", "defer")
    assert deferral.choice.defer_until == datetime.fromisoformat(f"{day}T00:00:00+00:00")
    assert [r.action for r in panel.auditor.records] == ["maintenance.apply_now", "maintenance.defer"]
    assert f"Your choice defer until {day}" in words((await ann.get("/maintenance")).text)


async def test_a_deferral_past_the_limit_or_not_in_the_future_is_refused_next_to_its_date(panel, ann):
    await panel.apply(notified(defer_limit=NOW + timedelta(days=5)))
    for typed, problem in (((NOW + timedelta(days=6)).date().isoformat(), f"must be no later than {(NOW + timedelta(days=5)):%Y-%m-%d}"),
                           (NOW.date().isoformat(), "must be a day after today"), ("next week", "must be a date such as")):
        response = await ann.submit("/maintenance", "/maintenance/c1/defer", {"defer_until": typed})
        assert response.status_code == 422
        form = response.text[response.text.index('action="/maintenance/c1/defer"'):]
        form = form[: form.index("</form>")]
        assert problem in text_of(form) and f'value="{typed}"' in form, typed
    assert await sent(panel) == []


async def test_the_configurators_refusal_of_a_deferral_is_shown_on_its_update(panel, ann):
    await panel.apply(notified())
    await ann.submit("/maintenance", "/maintenance/c1/defer", {"defer_until": (NOW + timedelta(days=3)).date().isoformat()})
    [chosen] = await sent(panel)
    await panel.apply(chosen.caused(CampaignChoiceRefused, "configurator", campaign_id="c1", reason="that update is not waiting to start any more"))
    assert "Your choice was refused: that update is not waiting to start any more" in words((await ann.get("/maintenance")).text)


async def test_an_update_under_way_or_cancelled_offers_no_choice_any_more(panel, ann):
    await panel.apply(notified(), notified(campaign_id="c2", title="Bigger Mastodon VMs"))
    await panel.apply(part_event(CampaignOperatorStarted, deployment_id="d-77", wave=0, trigger="window"),
                      part_event(CampaignStateChanged, operator="_fleet", campaign_id="c2", state="cancelled", reason="cancel asked by staff"))
    page = (await ann.get("/maintenance")).text

    first, second = section(page, 'id="update-c1"'), section(page, 'id="update-c2"')
    assert "being updated" in text_of(first) and 'href="/deployments/d-77"' in first and "Apply now" not in first
    assert "Planned start" not in text_of(first), "it started when it could, not as first planned"
    assert "cancelled by the provider" in text_of(second) and "Apply now" not in second
    refused = await ann.submit("/maintenance", "/maintenance/c1/apply-now", {})
    assert refused.status_code == 409 and "not waiting to start any more" in words(refused.text)
    assert await sent(panel) == []


async def test_an_operators_part_only_moves_forward_whatever_order_its_events_arrive_in(panel, ann):
    started = part_event(CampaignOperatorStarted, deployment_id="d-1", wave=0, trigger="window")
    failed = part_event(CampaignOperatorFailed, deployment_id="d-1", reason="nixos: the switch failed", after=timedelta(minutes=5))
    rolled_back = part_event(CampaignOperatorRolledBack, deployment_id="d-2", ok=True, after=timedelta(minutes=9))
    await panel.apply(rolled_back, failed, notified(), started, failed)
    shown = words((await ann.get("/maintenance")).text)
    assert "failed; back on the last good configuration" in shown and "nixos: the switch failed" in shown

    await panel.apply(part_event(CampaignOperatorCompleted, campaign_id="c3", deployment_id="d-3", outcome="updated"),
                      part_event(CampaignOperatorStarted, campaign_id="c3", deployment_id="d-3", wave=1, trigger="window", after=timedelta(minutes=-5)))
    assert "updated" in text_of(section((await ann.get("/maintenance")).text, 'id="update-c3"'))


async def test_the_history_says_which_deployments_a_provider_update_or_its_rollback_started(panel, ann):
    await panel.apply(notified())
    for deployment_id, origin in (("d-update", "campaign"), ("d-back", "rollback")):
        await panel.apply(PlanCreated(correlation_id=deployment_id, operator_id="acme", producer="configurator", deployment_id=deployment_id,
                                      revision=1, domain="acme.example", resources=(), changes=(), origin=origin, campaign_id="c1"))
    history = words((await ann.get("/deployments")).text)
    assert "provider update: Fediversity 25.05" in history
    assert "rollback of provider update: Fediversity 25.05" in history
    assert "by provider update: Fediversity 25.05" in words((await ann.get("/deployments/d-update")).text)
    assert (await (await panel.api()).get("/openapi.json")).status_code == 200


async def test_the_json_api_shows_the_updates_and_takes_the_same_choices_with_the_same_checks(panel, ann):
    await panel.apply(notified())
    token = re.search(r'id="token" class="secret">([^<]+)<', (await ann.submit("/account/token", "/account/token", {})).text).group(1)
    api = await panel.api(token)

    shown = (await api.get("/api/v1/maintenance")).json()
    assert shown["unread"] == 1 and shown["window"] == DEFAULT_WINDOW.model_dump() and shown["own_window"] is False
    [update] = shown["updates"]
    assert (update["campaign_id"], update["state"], update["changes"], update["waiting"]) == ("c1", "waiting", [CHANGE], True)
    assert shown["notices"][0]["kind"] == "notice"

    bad = await api.post("/api/v1/maintenance/choice", json={"kind": "window", "window": {"day": "sunday", "start": "2 am", "duration_minutes": 20}})
    assert bad.status_code == 422
    assert {p["field"]: p["message"] for p in bad.json()["detail"]["problems"]} == {
        "window.start": "must be a time of day such as 02:00 (24-hour clock)", "window.duration_minutes": "must be at least 60 minutes",
        "window.timezone": "is required"}
    window = {"day": "friday", "start": "22:30", "duration_minutes": 90, "timezone": "America/New_York"}
    assert (await api.post("/api/v1/maintenance/choice", json={"kind": "window", "window": window})).status_code == 202
    assert (await api.post("/api/v1/maintenance/choice", json={"kind": "apply_now", "campaign_id": "c1"})).status_code == 202
    late = await api.post("/api/v1/maintenance/choice", json={"kind": "defer", "campaign_id": "c1", "defer_until": "2999-01-01"})
    assert late.status_code == 422 and late.json()["detail"]["problems"][0]["field"] == "defer_until"
    assert (await api.post("/api/v1/maintenance/choice", json={"kind": "apply_now", "campaign_id": "nope"})).status_code == 404
    assert [m.choice.kind for m in await sent(panel)] == ["window", "apply_now"]
    assert panel.auditor.records[0].actor == "ann@acme.example"
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert {"/api/v1/maintenance", "/api/v1/maintenance/choice"} <= set(paths)


async def test_every_order_of_an_updates_events_ends_in_the_same_place(panel):
    def events(campaign_id: str) -> list:
        return [
            notified(campaign_id=campaign_id, notice="rescheduled", planned_start=datetime(2030, 1, 6, tzinfo=UTC)),
            part_event(CampaignOperatorStarted, campaign_id=campaign_id, deployment_id="d-1", wave=0, trigger="window"),
            part_event(CampaignOperatorFailed, campaign_id=campaign_id, deployment_id="d-1", reason="vm: out of memory", after=timedelta(minutes=2)),
            part_event(CampaignOperatorRolledBack, campaign_id=campaign_id, deployment_id="d-2", ok=True, after=timedelta(minutes=3)),
        ]

    for number, order in enumerate(permutations(range(4))):
        ordered = events(f"c{number}")
        await panel.apply(*(ordered[i] for i in order))
    shown = {(u.state, u.reason, u.planned_start, u.deployment_id) for u in (await overview(panel.context, "acme"))["updates"]}
    assert shown == {("rolled_back", "vm: out of memory", None, "d-1")}


async def test_a_campaigns_state_follows_the_newest_word_and_a_cancellation_is_final(panel):
    def said(state: str, minutes: int) -> CampaignStateChanged:
        return part_event(CampaignStateChanged, operator="_fleet", state=state, reason=f"{state} asked", after=timedelta(minutes=minutes))

    scheduled = CampaignScheduled(correlation_id="c1", operator_id="_fleet", producer="configurator", campaign_id="c1", title="T",
                                  reason="R", category="routine", requested_by="staff", earliest_start=NOW, deadline=NOW + timedelta(days=9),
                                  affected=(), unaffected=0, waves=(1,))
    await panel.apply(said("running", 2), said("cancelled", 3), scheduled, said("paused", 1))
    async with panel.context.units.database.session() as session:
        view = await Fleetwide(session).campaign("c1")
    assert (view.state, view.title) == ("cancelled", "T")


def test_the_panel_handles_every_campaign_message_the_catalogue_says_it_consumes():
    assert {entry.model for entry in consumed_by("panel") if entry.model.__module__ == "contracts.fleet"} <= set(HANDLERS)
