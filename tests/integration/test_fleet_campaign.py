"""A release rolled out over a fleet on the sandbox, in waves, each operator in the provider's
default window, while a fake clock makes the weeks pass: with failures in the canary wave the
campaign halts, the failed operators are rolled back and no later wave starts; without failures
the next campaign completes and every operator runs the new release; a campaign cancelled after its
canary wave starts no one else, while the canaries keep the release they were updated to.

FEDI_FLEET_OPERATORS sizes it (default 12; bench/fleet_campaign.py runs 200)."""

import os
from datetime import timedelta

import pytest
import pytest_asyncio

from contracts.fleet import CampaignOperatorStarted, CampaignStateChanged, Waves
from services.configurator.campaigns.rollout import FINISHED
from tests.fleet import Fleet, FakeClock, monday_noon

pytestmark = pytest.mark.integration

OPERATORS = [f"op{n:03d}" for n in range(int(os.environ.get("FEDI_FLEET_OPERATORS", "12")))]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(tmp_path_factory):
    world = await Fleet(tmp_path_factory.mktemp("fleet"), FakeClock(monday_noon()), env={"FEDI_ORCHESTRATOR_PARALLELISM": "32"}).start()
    try:
        await world.deploy(OPERATORS)
        yield world
    finally:
        await world.stop()


@pytest.mark.asyncio(loop_scope="module")
async def test_failures_in_the_canary_wave_halt_the_campaign_and_roll_the_failed_operators_back(fleet):
    before = fleet.deployed()
    campaign_id = await fleet.campaign({"release": "25.05"}, Waves(canary=2, growth=2, soak_minutes=60, failure_threshold=0.2))
    parts = await fleet.parts(campaign_id)
    canaries = sorted(part.operator_id for part in parts if part.wave == 0)
    assert len(parts) == len(OPERATORS) and len(canaries) == 2
    fleet.fail_activations([f"{operator}-mastodon@25.05" for operator in canaries])

    campaign = await fleet.run(campaign_id)
    fleet.fail_activations([])

    assert campaign.state == "halted" and "of 2 operators failed in wave 1" in campaign.state_reason
    states = {part.operator_id: part.state for part in await fleet.parts(campaign_id)}
    assert {states[operator] for operator in canaries} == {"rolled_back"}
    assert {state for operator, state in states.items() if operator not in canaries} == {"waiting"}, "no later wave started"
    assert campaign.wave_opened_at[1:] == []
    after = fleet.deployed()
    assert all(after[vm] == before[vm] for vm in before), "everyone runs the configuration they had"
    assert set((await fleet.releases()).values()) == {"24.11"}


@pytest.mark.asyncio(loop_scope="module")
async def test_the_same_kind_of_campaign_without_failures_completes_and_every_operator_runs_the_new_release(fleet):
    before = fleet.deployed()
    for halted in await fleet.campaigns_in("halted"):
        await fleet.cancel(halted)
    campaign_id = await fleet.campaign({"release": "25.11"}, Waves(canary=2, growth=2, soak_minutes=60, failure_threshold=0.2))

    campaign = await fleet.run(campaign_id)

    assert campaign.state == "completed"
    parts = await fleet.parts(campaign_id)
    assert {part.state for part in parts} == {"completed"}
    assert sorted({part.wave for part in parts}) == list(range(len(campaign.wave_sizes))), "it went through every wave"
    assert all(part.started_at >= campaign.earliest_start for part in parts), "nobody before the notice period was over"
    assert all(part.started_at.weekday() == 6 and 2 <= part.started_at.hour < 6 for part in parts), "all in the default window"
    after = fleet.deployed()
    assert all(after[vm] != before[vm] for vm in before), "every VM switched to a new configuration"
    assert await fleet.releases() == dict.fromkeys(OPERATORS, "25.11")


@pytest.mark.asyncio(loop_scope="module")
async def test_a_campaign_cancelled_after_its_canary_wave_starts_no_one_else_and_the_updated_operators_keep_what_they_run(fleet):
    vms, releases = fleet.deployed(), await fleet.releases()
    campaign_id = await fleet.campaign({"release": "26.05"}, Waves(canary=2, growth=2, soak_minutes=60, failure_threshold=0.2))
    canary_done = await fleet.run(campaign_id, until=lambda _, parts: all(p.state in FINISHED for p in parts if p.wave == 0))
    canary_parts = [part for part in await fleet.parts(campaign_id) if part.wave == 0]
    canaries = sorted(part.operator_id for part in canary_parts)
    assert canary_done.wave_opened_at[1:] == [], "the next wave waits for the soak time"
    assert {part.started_at for part in canary_parts} == {fleet.clock.now()}

    await fleet.cancel(campaign_id)
    beyond_the_deadline = canary_done.deadline + timedelta(days=7)
    # a day at a time from the canaries' start: every Sunday at a moment the default window lets an update start
    await fleet.run(campaign_id, step=timedelta(days=1), until=lambda *_: fleet.clock.now() > beyond_the_deadline)

    assert await fleet.until(lambda: _state_changes(fleet, campaign_id), 30, "the cancellation on the bus") == ["cancelled"]
    started = [e.operator_id for e in await fleet.events(CampaignOperatorStarted) if e.campaign_id == campaign_id]
    assert sorted(started) == canaries, "nobody started after the cancellation, in any window up to the deadline and beyond"
    states = {part.operator_id: part.state for part in await fleet.parts(campaign_id)}
    assert states == {operator: "completed" if operator in canaries else "cancelled" for operator in OPERATORS}
    assert await fleet.releases() == {operator: "26.05" if operator in canaries else releases[operator] for operator in OPERATORS}
    changed = {vm for vm, config in fleet.deployed().items() if config != vms[vm]}
    assert changed == {vm for vm in vms if vm.startswith(tuple(f"{operator}-" for operator in canaries))}


async def _state_changes(fleet: Fleet, campaign_id: str) -> list[str]:
    return [event.state for event in await fleet.events(CampaignStateChanged) if event.campaign_id == campaign_id]
