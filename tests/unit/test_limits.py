"""The orchestrator's bounds on concurrent work: a step queued behind a backend's limit gives its
global slot to a step that can run meanwhile, and nothing ever runs beyond either bound."""

import asyncio

from services.orchestrator.limits import Limits


class Tally:
    def __init__(self) -> None:
        self.running, self.peak, self.order = 0, 0, []

    async def work(self, name: str, seconds: float = 0.05) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.order.append(name)
        await asyncio.sleep(seconds)
        self.running -= 1


async def test_a_step_queued_for_a_clone_lets_a_ready_step_run_meanwhile():
    limits = Limits({"clone": 1}, parallelism=2)  # clone 1 holds one global slot and the clone; clone 2 takes the other
    started: list[str] = []

    async def clone(name: str) -> None:
        async with limits.step():
            async with limits.hold("clone", "pve1"):
                started.append(name)
                await asyncio.sleep(0.2)

    async def deploy() -> None:
        async with limits.step():
            started.append("deploy")

    first = asyncio.create_task(clone("clone 1"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(clone("clone 2"))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(deploy(), timeout=1.0)  # would wait for both clones if clone 2 kept its slot

    assert started == ["clone 1", "deploy"]
    await asyncio.gather(first, second)
    assert started == ["clone 1", "deploy", "clone 2"]


async def test_steps_never_exceed_the_global_bound_nor_a_backends_bound():
    limits = Limits({"clone": 2}, parallelism=3)
    everything, clones = Tally(), Tally()

    async def step(n: int) -> None:
        async with limits.step():
            await everything.work(f"prepare {n}", 0.01)
            if n % 2 == 0:
                async with limits.hold("clone", "pve1"):
                    await clones.work(f"clone {n}")
            await everything.work(f"finish {n}", 0.01)

    await asyncio.gather(*(step(n) for n in range(20)))

    assert clones.peak == 2
    assert everything.peak <= 3


async def test_a_step_cancelled_while_queued_for_a_backend_leaves_every_slot_free():
    limits = Limits({"clone": 1}, parallelism=1)
    release = asyncio.Event()

    async def clone() -> None:
        async with limits.step():
            async with limits.hold("clone", "pve1"):
                await release.wait()

    holder = asyncio.create_task(clone())
    await asyncio.sleep(0.01)
    queued = asyncio.create_task(clone())
    await asyncio.sleep(0.01)
    queued.cancel()
    release.set()
    await holder
    await asyncio.gather(queued, return_exceptions=True)

    async def both() -> None:
        async with limits.step(), limits.hold("clone", "pve1"):
            pass

    await asyncio.wait_for(asyncio.gather(both(), both()), timeout=1.0)
    assert limits.load[("clone", "pve1")] == 0
