"""The policy in force: the provider's policy file, with the changes of every campaign that was not
cancelled merged in, oldest first. Read from the database, so every configurator instance agrees."""

from sqlalchemy.ext.asyncio import AsyncSession

from .campaigns.store import Campaigns
from .domain.policy import Policy, with_changes


class Policies:
    def __init__(self, base: Policy) -> None:
        self.base = base
        self._cached: tuple[tuple[str, ...], Policy] = ((), base)

    async def current(self, session: AsyncSession) -> Policy:
        changes = await Campaigns(session).changing_policy()
        key = tuple(campaign_id for campaign_id, _ in changes)
        if key != self._cached[0]:
            self._cached = (key, with_changes(self.base, *(change for _, change in changes)))
        return self._cached[1]

    async def with_changes(self, session: AsyncSession, change: dict) -> Policy:
        """The policy in force with one more change; PolicyError when that is not a valid policy."""
        return with_changes(await self.current(session), change)
