"""Transient backend errors are retried with exponential backoff and full jitter, within a deadline;
anything else (or the last transient error at the deadline) goes to the caller. Every error of an
external system is counted on the service's metrics by backend and kind (`BackendErrors`)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_random_exponential

from runtime.telemetry import Metrics

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "transient", False))


def error_labels(exc: BaseException) -> tuple[str, str] | None:
    """(backend, kind) of an error an external system caused, None for any other error. Backend
    errors say so themselves: `backend` (proxmox, dns, deployer, storage, identity) and `kind`
    (lock_timeout, http_596, reset, ...; else transient or permanent)."""
    backend = getattr(exc, "backend", None)
    if not backend:
        return None
    return backend, getattr(exc, "kind", None) or ("transient" if is_transient(exc) else "permanent")


class BackendErrors:
    """Counts errors of external systems (fedi_backend_errors): by backend, kind, and whether the
    orchestrator retries them."""

    def __init__(self, metrics: Metrics) -> None:
        self.counter = metrics.backend_errors

    def record(self, exc: BaseException) -> None:
        labels = error_labels(exc)
        if labels is not None:
            self.count(*labels, transient=is_transient(exc))

    def count(self, backend: str, kind: str, transient: bool) -> None:
        self.counter.labels(backend, kind, "true" if transient else "false").inc()


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    cap: float = 10.0
    deadline: float = 300.0
    on_error: Callable[[BaseException], None] | None = None
    """Told of each error that is retried here (the last one goes to the caller)."""

    async def run(self, fn: Callable[[], Awaitable[T]], on_retry: Callable[[BaseException], None] | None = None) -> T:
        tell = [f for f in (self.on_error, on_retry) if f is not None]
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=self.base, max=self.cap),
            stop=stop_after_delay(self.deadline),
            reraise=True,
            before_sleep=(lambda state: [f(state.outcome.exception()) for f in tell]) if tell else None,
        )
        async for attempt in retrying:
            with attempt:
                return await fn()
        raise AssertionError("unreachable")
