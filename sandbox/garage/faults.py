"""Injected faults: the next `count` calls of an operation fail before doing anything."""

from __future__ import annotations

import threading
from collections import defaultdict

from . import errors

_FAULTS = {
    "http_500": lambda op: errors.internal(f"injected fault in {op}"),
    # The shape of Garage's quorum failures, which it answers with 503 ServiceUnavailable.
    "http_503": lambda op: errors.unavailable(
        f"Could not reach quorum of 2. 1 of 3 request succeeded, others returned errors: "
        f'["Timeout"] (injected fault in {op})'
    ),
}


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[str]] = defaultdict(list)

    def inject(self, operation: str, kind: str = "http_500", count: int = 1) -> None:
        """`operation` is an admin operation (`CreateBucket`, `Health`) or `s3:<Action>`."""
        if kind not in _FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(_FAULTS)}")
        with self._lock:
            self._pending[operation].extend([kind] * count)

    def check(self, operation: str) -> None:
        with self._lock:
            pending = self._pending.get(operation)
            kind = pending.pop(0) if pending else None
        if kind is not None:
            raise _FAULTS[kind](operation)
