"""Wakes live pages when this process changed the read model, so progress shows at once; pages also
re-read on a timer, for changes handled by another panel instance."""

import asyncio
import contextlib
from functools import wraps

from contracts import Message
from runtime.bus import Handler
from runtime.uow import UnitOfWork


class Changes:
    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Returns after the next change, or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


def notifying(handler: Handler, changes: Changes) -> Handler:
    """The handler, touching `changes` once its transaction has committed."""

    @wraps(handler)
    async def handle(message: Message, uow: UnitOfWork) -> None:
        await handler(message, uow)
        uow.after_commit(changes.touch)

    return handle
