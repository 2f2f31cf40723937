"""A campaign in the configurator on a real nats-server, with a fake clock: who is told what and
when, which choices are honoured and which are refused with the reason."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts import decode
from contracts.fleet import (
    FLEET,
    CampaignChoiceRefused,
    CampaignControlRequested,
    CampaignOperatorNotified,
    CampaignOperatorStarted,
    CampaignRequested,
    MaintenanceChoice,
    MaintenanceWindowChosen,
    WeeklyWindow,
)
from contracts.subjects import STREAM
from tests.fleet import FakeClock
from tests.integration.test_configurator import configuration, start_configurator  # noqa: F401

pytestmark = pytest.mark.integration

MONDAY = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)  # the provider's default window: Sunday 02:00-06:00 UTC
FIRST_SUNDAY = datetime(2027, 1, 17, 2, 0, tzinfo=UTC)  # the first after a week's notice


@pytest.fixture
async def fleet(start_configurator):
    clock = FakeClock(MONDAY)
    configurator = await start_configurator(clock=clock)
    configurator.clock = clock
    return configurator


async def deployed(configurator, eventually, operator: str, **services) -> None:
    submitted = await configurator.submit(configuration(f"{operator}.example", **services), operator)
    await configurator.answer_to(submitted, eventually)
    await configurator.applied(submitted, eventually)


async def published(configurator, model) -> list:
    js = configurator.nc.jetstream()
    last = (await js.stream_info(STREAM)).state.last_seq
    found = [decode((await js.get_msg(STREAM, seq)).data) for seq in range(1, last + 1)]
    return [message for message in found if isinstance(message, model)]


async def request(configurator, eventually, changes: dict, category: str = "routine", deadline_days: int = 30, canary: int = 5) -> str:
    campaign_id = f"camp-{category}-{len(await published(configurator, CampaignRequested))}"
    await configurator.publish(CampaignRequested(
        correlation_id=campaign_id, operator_id=FLEET, producer="panel", title="Fediversity 25.05", reason="Security fixes.",
        category=category, policy_changes=changes, notice_days=7, deadline=configurator.clock.now() + timedelta(days=deadline_days),
        waves={"canary": canary}, requested_by="staff@provider.example",
    ))

    async def noticed():
        return [n for n in await published(configurator, CampaignOperatorNotified) if n.campaign_id == campaign_id]

    await eventually(noticed, "the notices")
    return campaign_id


async def notices(configurator, campaign_id: str, operator: str | None = None) -> list[CampaignOperatorNotified]:
    return [n for n in await published(configurator, CampaignOperatorNotified)
            if n.campaign_id == campaign_id and operator in (None, n.operator_id)]


async def choose(configurator, operator: str, choice: MaintenanceChoice, campaign_id: str | None = None) -> None:
    """The operator's choice as the panel sends it: a window for all their updates, or about one campaign."""
    await configurator.publish(MaintenanceWindowChosen(correlation_id=campaign_id or str(uuid.uuid4()), operator_id=operator,
                                                       producer="panel", campaign_id=campaign_id, choice=choice))


async def window_chosen(configurator, eventually, operator: str, window: WeeklyWindow) -> None:
    from services.configurator.campaigns.store import MaintenanceWindow

    await choose(configurator, operator, MaintenanceChoice(kind="window", window=window))
    await eventually(lambda: _kept(configurator, MaintenanceWindow, lambda row: row.window == window), "the window kept")


async def _kept(configurator, model, check) -> bool:
    return any(check(row) for row in await configurator.rows(model))


async def advance_to(configurator, moment: datetime) -> None:
    """The clock moves; the scheduler looks; what it published has left the outbox for the stream."""
    configurator.clock.moment = moment
    await configurator.fleet.tick()
    await settled(configurator)


async def settled(configurator) -> None:
    from sqlalchemy import text

    for _ in range(200):
        async with configurator.database.session() as session:
            if not (await session.execute(text("SELECT COUNT(*) FROM outbox"))).scalar_one():
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the outbox did not empty")


async def test_only_operators_whose_plan_changes_are_told_what_changes_and_when(fleet, eventually):
    await deployed(fleet, eventually, "acme", mastodon={})
    await deployed(fleet, eventually, "globex", pixelfed={})

    campaign_id = await request(fleet, eventually, {"sizes": {"mastodon": {"memory_mib": 8192}}})

    [notice] = await notices(fleet, campaign_id)
    assert notice.operator_id == "acme", "globex runs no Mastodon: its plan does not change, it hears nothing"
    assert (notice.notice, notice.planned_start, notice.downtime_minutes) == ("notice", FIRST_SUNDAY, 5), "a reboot and a NixOS switch"
    assert any("memory from 4096 MiB to 8192 MiB" in line for line in notice.changes)
    assert notice.window.day == "sunday" and notice.window.timezone == "UTC", "no window chosen: the provider's default"


async def test_reminders_come_seven_days_and_one_day_before_and_the_update_starts_in_the_window(fleet, eventually):
    await deployed(fleet, eventually, "acme", mastodon={})
    campaign_id = await request(fleet, eventually, {"release": "25.05"})

    await advance_to(fleet, FIRST_SUNDAY - timedelta(days=7, seconds=1))
    assert [n.notice for n in await notices(fleet, campaign_id)] == ["notice"]
    await advance_to(fleet, FIRST_SUNDAY - timedelta(days=7))
    await advance_to(fleet, FIRST_SUNDAY - timedelta(hours=24))
    assert [n.notice for n in await notices(fleet, campaign_id)] == ["notice", "reminder", "reminder"]
    assert await published(fleet, CampaignOperatorStarted) == []

    await advance_to(fleet, FIRST_SUNDAY)
    [started] = await published(fleet, CampaignOperatorStarted)
    assert (started.operator_id, started.trigger) == ("acme", "window")


async def test_a_window_in_the_operators_time_zone_moves_the_planned_start_and_they_are_told(fleet, eventually):
    await deployed(fleet, eventually, "acme", mastodon={})
    campaign_id = await request(fleet, eventually, {"release": "25.05"})
    tokyo = WeeklyWindow(day="wednesday", start="03:00", duration_minutes=120, timezone="Asia/Tokyo")

    await window_chosen(fleet, eventually, "acme", tokyo)
    await advance_to(fleet, MONDAY + timedelta(minutes=1))

    rescheduled = (await notices(fleet, campaign_id))[-1]
    assert rescheduled.notice == "rescheduled" and rescheduled.window == tokyo
    assert rescheduled.planned_start == datetime(2027, 1, 12, 18, 0, tzinfo=UTC), "Wednesday 03:00 in Tokyo, after the notice week"


AMSTERDAM_SUNDAY_NIGHT = WeeklyWindow(day="sunday", start="02:30", duration_minutes=120, timezone="Europe/Amsterdam")


@pytest.mark.parametrize(
    ("requested", "start"),
    [
        # 28 March 2027, 02:00 -> 03:00: that night has no 02:30, so the window opens as late by the clock, at 03:30 summer time
        (datetime(2027, 3, 20, 12, 0, tzinfo=UTC), datetime(2027, 3, 28, 1, 30, tzinfo=UTC)),
        # 31 October 2027, 03:00 -> 02:00: 02:30 comes twice, and the window opens at the first, still summer time
        (datetime(2027, 10, 23, 12, 0, tzinfo=UTC), datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),
    ],
    ids=["clocks go forward", "clocks go back"],
)
async def test_a_window_in_amsterdam_on_the_night_the_clocks_change_starts_the_update_at_the_moment_announced(
    fleet, eventually, requested, start
):
    fleet.clock.moment = requested
    await deployed(fleet, eventually, "acme", mastodon={})
    await window_chosen(fleet, eventually, "acme", AMSTERDAM_SUNDAY_NIGHT)

    campaign_id = await request(fleet, eventually, {"release": "25.05"})

    [notice] = await notices(fleet, campaign_id)
    assert notice.planned_start == start, "the Sunday after the notice week, the night the clocks change"
    await advance_to(fleet, start - timedelta(seconds=1))
    assert await published(fleet, CampaignOperatorStarted) == []
    await advance_to(fleet, start)
    [started] = await published(fleet, CampaignOperatorStarted)
    assert (started.operator_id, started.trigger) == ("acme", "window")


@pytest.mark.parametrize("category", ["routine", "security"])
async def test_a_deferral_past_the_deadline_is_refused_with_the_reason_and_changes_nothing(fleet, eventually, category):
    await deployed(fleet, eventually, "acme", mastodon={})
    campaign_id = await request(fleet, eventually, {"release": "25.05"}, category=category, deadline_days=20)

    await choose(fleet, "acme", MaintenanceChoice(kind="defer", defer_until=MONDAY + timedelta(days=40)), campaign_id)

    [refused] = await eventually(lambda: published(fleet, CampaignChoiceRefused), "the refusal")
    assert "cannot be deferred past 2027-01-24" in refused.reason
    assert ("a security update" in refused.reason) == (category == "security")
    await advance_to(fleet, MONDAY + timedelta(minutes=1))
    assert [n.notice for n in await notices(fleet, campaign_id)] == ["notice"], "the planned start did not move"


async def test_a_deferred_update_lets_the_windows_before_its_date_go_by_and_starts_in_the_first_one_after(fleet, eventually):
    from services.configurator.campaigns.store import Part

    await deployed(fleet, eventually, "acme", mastodon={})
    campaign_id = await request(fleet, eventually, {"release": "25.05"})
    wednesday, after_deferral = FIRST_SUNDAY + timedelta(days=3), FIRST_SUNDAY + timedelta(days=7)

    await choose(fleet, "acme", MaintenanceChoice(kind="defer", defer_until=wednesday), campaign_id)
    await eventually(lambda: _kept(fleet, Part, lambda part: part.choice == "defer"), "the deferral kept")
    await advance_to(fleet, MONDAY + timedelta(minutes=1))
    rescheduled = (await notices(fleet, campaign_id))[-1]
    assert (rescheduled.notice, rescheduled.planned_start) == ("rescheduled", after_deferral)

    await advance_to(fleet, FIRST_SUNDAY + timedelta(hours=1))
    await advance_to(fleet, after_deferral - timedelta(seconds=1))
    assert await published(fleet, CampaignOperatorStarted) == [], "not in the window before the deferral ends, nor before its own"
    await advance_to(fleet, after_deferral)
    [started] = await published(fleet, CampaignOperatorStarted)
    assert (started.operator_id, started.trigger) == ("acme", "deferred")


async def test_a_security_update_starts_at_its_deadline_outside_any_window_and_apply_now_starts_at_once(fleet, eventually):
    for operator in ("acme", "globex"):
        await deployed(fleet, eventually, operator, mastodon={})
    campaign_id = await request(fleet, eventually, {"release": "25.05"}, category="security", deadline_days=9)
    deadline = MONDAY + timedelta(days=9)  # Wednesday noon, before the first Sunday window after the notice week

    await choose(fleet, "globex", MaintenanceChoice(kind="apply_now"), campaign_id)
    await eventually(lambda: _started(fleet, "globex"), "globex's update applied at once")
    await advance_to(fleet, deadline - timedelta(seconds=1))
    assert not await _started(fleet, "acme")
    await advance_to(fleet, deadline)
    [forced] = await _started(fleet, "acme")
    assert forced.trigger == "forced" and (await _started(fleet, "globex"))[0].trigger == "apply_now"


async def _started(configurator, operator: str) -> list[CampaignOperatorStarted]:
    await configurator.fleet.tick()
    await settled(configurator)
    return [s for s in await published(configurator, CampaignOperatorStarted) if s.operator_id == operator]


async def test_a_paused_campaign_starts_no_one_until_it_is_resumed(fleet, eventually):
    await deployed(fleet, eventually, "acme", mastodon={})
    campaign_id = await request(fleet, eventually, {"release": "25.05"})
    pause = CampaignControlRequested(correlation_id=campaign_id, operator_id=FLEET, producer="panel", campaign_id=campaign_id,
                                     action="pause", requested_by="staff@provider.example")
    await fleet.publish(pause)
    await eventually(lambda: _paused(fleet, True), "paused")

    await advance_to(fleet, FIRST_SUNDAY + timedelta(minutes=5))
    assert await published(fleet, CampaignOperatorStarted) == []
    await fleet.publish(pause.model_copy(update={"action": "resume", "event_id": uuid.uuid4()}))
    await eventually(lambda: _paused(fleet, False), "resumed")
    await advance_to(fleet, FIRST_SUNDAY + timedelta(minutes=6))
    assert [s.operator_id for s in await published(fleet, CampaignOperatorStarted)] == ["acme"]


async def _paused(configurator, paused: bool) -> bool:
    from services.configurator.campaigns.store import Campaign

    return [c.paused for c in await configurator.rows(Campaign)] == [paused]
