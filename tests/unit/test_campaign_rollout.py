"""How a campaign moves through the fleet as time passes: waves, windows, reminders, halts."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contracts.fleet import WeeklyWindow
from services.configurator.campaigns import rollout
from services.configurator.campaigns.rollout import Finish, Halt, OpenWave, Remind, Reschedule, Start, decide

MONDAY = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
SUNDAY_NIGHT = WeeklyWindow(day="sunday", start="02:00", duration_minutes=240, timezone="UTC")
REMINDERS = (168, 24)


@dataclass
class FakeCampaign:
    category: str = "routine"
    state: str = "running"
    paused: bool = False
    earliest_start: datetime = MONDAY + timedelta(days=7)
    deadline: datetime = MONDAY + timedelta(days=60)
    soak_minutes: int = 60
    failure_threshold: float = 0.2
    resumed_at: datetime | None = None
    wave_sizes: list[int] = field(default_factory=lambda: [1, 4])
    wave_opened_at: list[datetime] = field(default_factory=lambda: [MONDAY])
    id: str = "camp-1"


@dataclass
class FakePart:
    operator_id: str
    wave: int = 0
    state: str = rollout.WAITING
    choice: str | None = None
    chosen_at: datetime | None = None
    defer_until: datetime | None = None
    planned_start: datetime | None = None
    finished_at: datetime | None = None
    reminders_sent: list[int] = field(default_factory=list)


def moves(campaign, parts, now, windows=None):
    return decide(campaign, parts, lambda op: (windows or {}).get(op, SUNDAY_NIGHT), now, REMINDERS)


def test_the_canary_is_scheduled_for_its_first_window_after_the_notice_period():
    canary = FakePart("acme")
    assert moves(FakeCampaign(), [canary], MONDAY) == [Reschedule("acme", datetime(2027, 1, 17, 2, 0, tzinfo=UTC))]


def test_an_operator_is_reminded_seven_days_and_one_day_before_and_started_in_the_window():
    campaign, part = FakeCampaign(), FakePart("acme", planned_start=datetime(2027, 1, 17, 2, 0, tzinfo=UTC))
    start = part.planned_start
    assert moves(campaign, [part], start - timedelta(days=7, minutes=1)) == []
    assert moves(campaign, [part], start - timedelta(days=7)) == [Remind("acme", (168,))]
    part.reminders_sent = [168]
    assert moves(campaign, [part], start - timedelta(hours=25)) == []
    assert moves(campaign, [part], start - timedelta(hours=24)) == [Remind("acme", (24,))]
    part.reminders_sent = [168, 24]
    assert moves(campaign, [part], start) == [Start("acme", "window")]


def test_a_wave_opening_late_sends_one_reminder_for_every_one_that_is_due():
    part = FakePart("acme", planned_start=datetime(2027, 1, 17, 2, 0, tzinfo=UTC))
    assert moves(FakeCampaign(), [part], part.planned_start - timedelta(hours=2)) == [Remind("acme", (168, 24))]


def test_the_operators_own_window_in_their_time_zone_is_honoured():
    tokyo = WeeklyWindow(day="wednesday", start="03:00", duration_minutes=120, timezone="Asia/Tokyo")
    [move] = moves(FakeCampaign(), [FakePart("acme")], MONDAY, {"acme": tokyo})
    assert move == Reschedule("acme", datetime(2027, 1, 12, 18, 0, tzinfo=UTC)), "Wednesday 03:00 in Tokyo is Tuesday 18:00 UTC"


def test_apply_now_starts_at_once_whatever_the_notice_period_or_window():
    part = FakePart("acme", wave=1, choice="apply_now", chosen_at=MONDAY)
    assert moves(FakeCampaign(), [part], MONDAY) == [Start("acme", "apply_now")]


def test_a_deferred_update_waits_for_the_first_window_after_the_deferral():
    part = FakePart("acme", choice="defer", defer_until=datetime(2027, 2, 1, tzinfo=UTC))
    assert moves(FakeCampaign(), [part], MONDAY) == [Reschedule("acme", datetime(2027, 2, 7, 2, 0, tzinfo=UTC))]
    assert moves(FakeCampaign(), [part], datetime(2027, 2, 7, 2, 0, tzinfo=UTC)) == [Start("acme", "deferred")]


def test_a_security_update_starts_at_its_deadline_when_the_window_comes_later():
    campaign = FakeCampaign(category="security", deadline=MONDAY + timedelta(days=8))  # Tuesday; the window is Sunday
    part = FakePart("acme")
    assert moves(campaign, [part], MONDAY) == [Reschedule("acme", campaign.deadline)]
    assert moves(campaign, [part], campaign.deadline) == [Start("acme", "forced")]


def test_the_next_wave_opens_only_after_the_canary_finished_and_soaked():
    campaign = FakeCampaign()
    canary = FakePart("acme", state=rollout.STARTED)
    later = [FakePart(name, wave=1) for name in ("b", "c")]
    assert [m for m in moves(campaign, [canary, *later], MONDAY + timedelta(days=14)) if isinstance(m, OpenWave)] == []
    canary.state, canary.finished_at = "completed", MONDAY + timedelta(days=13)
    assert OpenWave(1) not in moves(campaign, [canary, *later], canary.finished_at + timedelta(minutes=59))
    assert OpenWave(1) in moves(campaign, [canary, *later], canary.finished_at + timedelta(minutes=60))


def test_too_many_failures_in_a_wave_halt_the_campaign_and_nothing_more_starts():
    campaign = FakeCampaign(wave_sizes=[5, 20], failure_threshold=0.2)
    failed = [FakePart(f"f{i}", state="rolled_back", finished_at=MONDAY) for i in range(2)]
    waiting = [FakePart(f"w{i}", choice="apply_now", chosen_at=MONDAY) for i in range(3)]
    assert moves(campaign, [*failed, *waiting], MONDAY) == [Halt(wave=0, failed=2, size=5)]
    campaign.state = "halted"
    assert moves(campaign, [*failed, *waiting], MONDAY + timedelta(days=30)) == []


def test_failures_up_to_the_threshold_let_the_campaign_go_on():
    campaign = FakeCampaign(wave_sizes=[5, 20], failure_threshold=0.2)
    parts = [FakePart("f0", state="rolled_back", finished_at=MONDAY)]
    parts += [FakePart(f"ok{i}", state="completed", finished_at=MONDAY) for i in range(4)]
    assert moves(campaign, parts, MONDAY + timedelta(hours=2)) == [OpenWave(1)]


def test_a_paused_campaign_starts_nothing_and_a_finished_one_completes():
    part = FakePart("acme", choice="apply_now", chosen_at=MONDAY)
    assert moves(FakeCampaign(paused=True), [part], MONDAY) == []
    done = FakePart("acme", state="completed", finished_at=MONDAY)
    assert moves(FakeCampaign(wave_sizes=[1]), [done], MONDAY) == [Finish()]


def test_waves_grow_from_the_canary_and_every_operator_is_in_exactly_one():
    sizes = rollout.wave_sizes(200, canary=2, growth=4)
    assert sizes == [2, 8, 32, 128, 30] and sum(sizes) == 200
    operators = [f"op{i:03}" for i in range(200)]
    waves = rollout.in_waves("camp-1", operators, sizes)
    assert sorted(waves) == operators and [list(waves.values()).count(w) for w in range(5)] == sizes
    assert waves == rollout.in_waves("camp-1", list(reversed(operators)), sizes), "the same campaign, the same waves"
