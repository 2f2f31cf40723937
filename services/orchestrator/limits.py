"""Per-backend bounds on concurrent work (clones per Proxmox node, NixOS deploys, DNS calls), on top
of the executor's global bound on running steps."""

import asyncio
import contextlib
from collections import Counter


class Limits:
    def __init__(self, bounds: dict[str, int]) -> None:
        self.bounds = bounds
        self._semaphores: dict[tuple[str, str], asyncio.Semaphore] = {}
        self.load: Counter[tuple[str, str]] = Counter()
        """Holders plus waiters, per (backend, key)."""

    @contextlib.asynccontextmanager
    async def hold(self, backend: str, key: str = ""):
        slot = (backend, key)
        if backend not in self.bounds:
            yield
            return
        semaphore = self._semaphores.setdefault(slot, asyncio.Semaphore(self.bounds[backend]))
        self.load[slot] += 1
        try:
            async with semaphore:
                yield
        finally:
            self.load[slot] -= 1

    def least_busy(self, backend: str, keys: list[str]) -> str:
        return min(keys, key=lambda key: (self.load[(backend, key)], keys.index(key)))
