"""A release rolled out over 200 operators on the sandbox (issue: fleet-wide updates), twice: first
with the canary wave's activations failing, so the campaign must halt and roll the canaries back
with no later wave started; then without faults, so it must complete with every operator on the
new release. Time passes on a fake clock (an hour a step while nothing is in flight); deployments
run for real on the sandbox.

    .venv/bin/python bench/fleet_campaign.py [--operators 200]

Printed: the first deployment of the fleet (the baseline: the same work, without a campaign), then
for each campaign how long it took in real time, how much fake time it spanned, how many moves the
scheduler's ticks made and what its ticks cost, and the ratio of the campaign's real time to the
baseline.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.fleet import Waves  # noqa: E402
from tests.fleet import FakeClock, Fleet, monday_noon  # noqa: E402

WAVES = Waves(canary=4, growth=4, soak_minutes=60, failure_threshold=0.2)


class TimedTicks:
    """Counts the scheduler's moves and the real time its ticks take."""

    def __init__(self, fleet: Fleet) -> None:
        self.moves, self.seconds, self._tick = 0, 0.0, fleet.scheduler.tick
        fleet.scheduler.tick = self.tick

    async def tick(self) -> int:
        started = time.perf_counter()
        moved = await self._tick()
        self.seconds += time.perf_counter() - started
        self.moves += moved
        return moved


async def one_campaign(fleet: Fleet, release: str, fail_canaries: bool) -> dict:
    ticks = TimedTicks(fleet)
    fake_start, started = fleet.clock.now(), time.perf_counter()
    campaign_id = await fleet.campaign({"release": release}, WAVES)
    if fail_canaries:
        parts = await fleet.parts(campaign_id)
        fleet.fail_activations([f"{p.operator_id}-mastodon@{release}" for p in parts if p.wave == 0])
    campaign = await fleet.run(campaign_id, timeout=3600)
    fleet.fail_activations([])
    fleet.scheduler.tick = ticks._tick
    parts = await fleet.parts(campaign_id)
    states: dict[str, int] = {}
    for part in parts:
        states[part.state] = states.get(part.state, 0) + 1
    return {
        "campaign": campaign, "parts": parts, "states": states, "real": time.perf_counter() - started,
        "fake": fleet.clock.now() - fake_start, "moves": ticks.moves, "tick_seconds": ticks.seconds,
    }


async def main(operators: int) -> None:
    names = [f"op{n:03d}" for n in range(operators)]
    with tempfile.TemporaryDirectory() as home:
        fleet = await Fleet(Path(home), FakeClock(monday_noon()), env={"FEDI_ORCHESTRATOR_PARALLELISM": "32"}).start()
        try:
            started = time.perf_counter()
            await fleet.deploy(names, timeout=3600)
            baseline = time.perf_counter() - started
            print(f"first deployment of {operators} operators (baseline): {baseline:.1f} s")

            halted = await one_campaign(fleet, "25.05", fail_canaries=True)
            _report("with the canaries failing", halted, baseline)
            later = [p for p in halted["parts"] if p.wave > 0 and p.state != "waiting"]
            if halted["campaign"].state != "halted" or later or set(halted["states"]) - {"rolled_back", "waiting"}:
                raise SystemExit(f"expected a halt with only the canaries rolled back, got {halted['states']}")
            await fleet.cancel(halted["campaign"].id)

            completed = await one_campaign(fleet, "25.11", fail_canaries=False)
            _report("without faults", completed, baseline)
            releases = await fleet.releases()
            if completed["campaign"].state != "completed" or set(releases.values()) != {"25.11"} or len(releases) != operators:
                raise SystemExit(f"expected every operator on 25.11, got {completed['states']}")
        finally:
            await fleet.stop()


def _report(what: str, run: dict, baseline: float) -> None:
    campaign = run["campaign"]
    print(f"campaign {what}: {campaign.state} ({campaign.state_reason}); waves {campaign.wave_sizes}; "
          + ", ".join(f"{n} {state}" for state, n in sorted(run["states"].items())))
    print(f"  real time {run['real']:.1f} s (ratio to the baseline {run['real'] / baseline:.2f}), "
          f"fake time {run['fake'].days} days {run['fake'].seconds // 3600} h; "
          f"scheduler: {run['moves']} moves, {run['tick_seconds']:.1f} s in its ticks")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--operators", type=int, default=200)
    asyncio.run(main(parser.parse_args().operators))
