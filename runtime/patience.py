"""Patience with a backend that is briefly unavailable (Garage answering 503, an LDAP server
restarting): each call of an object's methods tried again on the backend's transient error, with
exponential backoff and full jitter, until a deadline. Use it on objects whose every method is a
whole idempotent operation (it finds before it creates), so that trying again after a lost answer
makes nothing twice. Anything else, and the last transient error at the deadline, goes to the
caller; then the bus delivers the message again."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

from pydantic_settings import BaseSettings
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential


@dataclass(frozen=True)
class Patience:
    base: float = 0.5
    """Seconds before the first try again (about: the wait is jittered), doubling each time."""
    cap: float = 10.0
    deadline: float = 60.0
    """0: no second try here."""


class PatienceSettings(BaseSettings):
    """For services whose handlers call a backend that can be briefly unavailable."""

    retry_backoff_seconds: float = 0.5
    """A backend call that failed transiently is tried again after about this long, doubling up to
    retry_backoff_max_seconds, until transient_deadline_seconds have passed; then the message is
    delivered again (and after max_deliveries, dead-lettered)."""
    retry_backoff_max_seconds: float = 10.0
    transient_deadline_seconds: float = 60.0

    def patience(self) -> Patience:
        return Patience(self.retry_backoff_seconds, self.retry_backoff_max_seconds, self.transient_deadline_seconds)


class Patient:
    """`target` with every method, plain or async, tried again on `transient` errors."""

    def __init__(self, target: Any, patience: Patience, transient: type[BaseException], log: Any) -> None:
        self._target, self._patience, self._transient, self._log = target, patience, transient, log

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._target, name)
        if not callable(call):
            return call
        settings = self._settings(name)
        if inspect.iscoroutinefunction(call):

            @functools.wraps(call)
            async def retried_async(*args, **kwargs):  # noqa: ANN202
                async for attempt in AsyncRetrying(**settings):
                    with attempt:
                        return await call(*args, **kwargs)

            return retried_async

        @functools.wraps(call)
        def retried(*args, **kwargs):  # noqa: ANN202
            for attempt in Retrying(**settings):
                with attempt:
                    return call(*args, **kwargs)

        return retried

    def _settings(self, name: str) -> dict:
        def tell(state: RetryCallState) -> None:
            self._log.warning("backend unavailable; trying again", call=name, attempt=state.attempt_number,
                              retry_in=round(state.upcoming_sleep, 2), error=str(state.outcome.exception()))

        return dict(
            retry=retry_if_exception_type(self._transient),
            wait=wait_random_exponential(multiplier=self._patience.base, max=self._patience.cap),
            stop=stop_after_delay(self._patience.deadline),
            before_sleep=tell,
            reraise=True,
        )
