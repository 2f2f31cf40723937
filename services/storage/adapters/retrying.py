"""A backend whose every call is tried again while the store is unavailable (`Unavailable`): with
exponential backoff and full jitter, within a deadline, in the handler's own thread. Every backend
call is a whole idempotent operation (it finds before it creates), so trying it again after a lost
answer makes nothing twice. `Refused`, and the last `Unavailable` at the deadline, go to the caller:
then the bus delivers the message again."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from runtime import logs

from ..domain import Backend, Unavailable

log = logs.get("storage")


@dataclass(frozen=True)
class Patience:
    base: float = 0.5
    cap: float = 10.0
    deadline: float = 60.0


class RetryingBackend:
    def __init__(self, backend: Backend, patience: Patience) -> None:
        self._backend, self._patience = backend, patience

    def __getattr__(self, name: str):  # noqa: ANN204
        call = getattr(self._backend, name)
        if not callable(call):
            return call

        @functools.wraps(call)
        def retried(*args, **kwargs):  # noqa: ANN202
            for attempt in self._retrying(name):
                with attempt:
                    return call(*args, **kwargs)

        return retried

    def _retrying(self, name: str) -> Retrying:
        def tell(state: RetryCallState) -> None:
            log.warning("storage backend unavailable; trying again", call=name, attempt=state.attempt_number,
                        retry_in=round(state.upcoming_sleep, 2), error=str(state.outcome.exception()))

        return Retrying(
            retry=retry_if_exception_type(Unavailable),
            wait=wait_random_exponential(multiplier=self._patience.base, max=self._patience.cap),
            stop=stop_after_delay(self._patience.deadline),
            before_sleep=tell,
            reraise=True,
        )
