"""Bounds on concurrent work: the executor's global bound on running steps, and per-backend bounds
(clones per Proxmox node, NixOS deploys, DNS calls).

A step never keeps its global slot while it queues for a backend's slot: it gives the slot back,
waits, and takes one again once the backend lets it in. Otherwise steps queued behind the clone
limit would fill the global bound and hold up every step that could run meanwhile (a NixOS deploy
of a VM that is ready, a DNS record), which is what Terraform's parallelism does."""

import asyncio
import contextlib
import contextvars
from collections import Counter


class _Slot:
    """Whether the current step holds a global slot right now."""

    held = False


_current: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("global_slot", default=None)


class Limits:
    def __init__(self, bounds: dict[str, int], parallelism: int = 16) -> None:
        self.bounds = bounds
        self._running = asyncio.Semaphore(parallelism)
        self._semaphores: dict[tuple[str, str], asyncio.Semaphore] = {}
        self.load: Counter[tuple[str, str]] = Counter()
        """Holders plus waiters, per (backend, key)."""

    @contextlib.asynccontextmanager
    async def step(self):
        """One running step, within the global bound."""
        slot = _Slot()
        token = _current.set(slot)
        try:
            await self._running.acquire()
            slot.held = True
            yield
        finally:
            if slot.held:
                self._running.release()
            _current.reset(token)

    @contextlib.asynccontextmanager
    async def hold(self, backend: str, key: str = ""):
        if backend not in self.bounds:
            yield
            return
        slot = (backend, key)
        semaphore = self._semaphores.setdefault(slot, asyncio.Semaphore(self.bounds[backend]))
        self.load[slot] += 1
        try:
            await self._enter(semaphore)
            try:
                yield
            finally:
                semaphore.release()
        finally:
            self.load[slot] -= 1

    async def _enter(self, semaphore: asyncio.Semaphore) -> None:
        step = _current.get()
        if not semaphore.locked() or step is None or not step.held:
            await semaphore.acquire()
            return
        self._running.release()
        step.held = False
        await semaphore.acquire()
        try:
            await self._running.acquire()
        except BaseException:
            semaphore.release()
            raise
        step.held = True

    def least_busy(self, backend: str, keys: list[str]) -> str:
        return min(keys, key=lambda key: (self.load[(backend, key)], keys.index(key)))
