"""Transient backend errors are retried with exponential backoff and full jitter, within a deadline;
anything else (or the last transient error at the deadline) goes to the caller."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_random_exponential

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "transient", False))


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    cap: float = 10.0
    deadline: float = 300.0

    async def run(self, fn: Callable[[], Awaitable[T]], on_retry: Callable[[BaseException], None] | None = None) -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=self.base, max=self.cap),
            stop=stop_after_delay(self.deadline),
            reraise=True,
            before_sleep=(lambda state: on_retry(state.outcome.exception())) if on_retry else None,
        )
        async for attempt in retrying:
            with attempt:
                return await fn()
        raise AssertionError("unreachable")
