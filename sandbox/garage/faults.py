"""Injected faults: the next `count` calls of an operation fail, or each call fails at a `rate`.

Most kinds fail before doing anything. `lost_reply` does the call and then answers 500, as when the
answer is lost on its way back: a client that retries blindly makes a second key or bucket."""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass

from . import errors

_FAULTS = {
    "http_500": lambda op: errors.internal(f"injected fault in {op}"),
    # The shape of Garage's quorum failures, which it answers with 503 ServiceUnavailable.
    "http_503": lambda op: errors.unavailable(
        f"Could not reach quorum of 2. 1 of 3 request succeeded, others returned errors: "
        f'["Timeout"] (injected fault in {op})'
    ),
    "lost_reply": lambda op: errors.internal(f"injected fault in {op}: done, but the answer was lost"),
}
AFTER = {"lost_reply"}
"""Kinds that strike once the call has been done."""
ANY = "*"
"""An operation that stands for every admin operation (not Health, not S3)."""


@dataclass(frozen=True)
class _Rate:
    operation: str
    kind: str
    rate: float

    def matches(self, operation: str) -> bool:
        return self.operation == operation or (self.operation == ANY and operation != "Health" and not operation.startswith("s3:"))


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[str]] = defaultdict(list)
        self._rates: list[_Rate] = []
        self._random = random.Random(seed)
        self.taken: Counter[str] = Counter()
        """How many of each kind struck."""

    def inject(self, operation: str, kind: str = "http_500", count: int = 1, rate: float | None = None) -> None:
        """`operation` is an admin operation (`CreateBucket`, `Health`), `s3:<Action>` or `*` (every
        admin operation). With `rate`, each matching call fails with that probability until cleared."""
        if kind not in _FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(_FAULTS)}")
        if rate is not None and not 0 <= rate <= 1:
            raise ValueError(f"a fault's rate is between 0 and 1, not {rate}")
        with self._lock:
            if rate is None:
                self._pending[operation].extend([kind] * count)
            else:
                self._rates.append(_Rate(operation, kind, rate))

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._rates.clear()

    def check(self, operation: str) -> None:
        """Before the call: raises the fault that strikes it, if any."""
        self._strike(operation, after=False)

    def check_after(self, operation: str) -> None:
        """After the call was done: raises a lost reply, if one strikes it."""
        self._strike(operation, after=True)

    def _strike(self, operation: str, after: bool) -> None:
        with self._lock:
            pending = self._pending.get(operation)
            kind = None
            if pending and (pending[0] in AFTER) == after:
                kind = pending.pop(0)
            for rule in self._rates:
                if kind is None and (rule.kind in AFTER) == after and rule.matches(operation) and self._random.random() < rule.rate:
                    kind = rule.kind
            if kind is not None:
                self.taken[kind] += 1
        if kind is not None:
            raise _FAULTS[kind](operation)
