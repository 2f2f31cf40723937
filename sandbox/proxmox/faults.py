"""Injected faults: rules matched against an operation name ("qmclone", "nextid", ... or "*")."""

from __future__ import annotations

import random
import threading
from collections import Counter

KINDS = ("lock_timeout", "http_500", "http_596", "warnings", "slow", "reset", "id_taken")
"""id_taken: another client makes a VM with the id the call asks for just before it (nextid races)."""


class Faults:
    def __init__(self, seed: int | None = None):
        self._lock = threading.Lock()
        self._rules: list[dict] = []
        self._random = random.Random(seed)
        self.taken: Counter[str] = Counter()
        """Faults suffered so far, by kind."""

    def inject(self, op: str, kind: str, count: int | None = None, rate: float | None = None,
               message: str | None = None, seconds: float = 1.0) -> None:
        """The next `count` matching operations fail with `kind`; with `rate` each matching
        operation fails with that probability (for `count` of them, or for ever without one)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        if rate is not None and not 0 <= rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        if count == 0:
            return
        rule = {"op": op, "kind": kind, "left": 1 if count is None and rate is None else count,
                "rate": 1.0 if rate is None else float(rate), "message": message, "seconds": float(seconds)}
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, op: str) -> dict | None:
        """The fault the operation `op` suffers now, if any (consuming one from its rule)."""
        with self._lock:
            for rule in self._rules:
                if rule["op"] in (op, "*") and self._random.random() < rule["rate"]:
                    if rule["left"] is not None:
                        rule["left"] -= 1
                        if rule["left"] <= 0:
                            self._rules.remove(rule)
                    self.taken[rule["kind"]] += 1
                    return dict(rule)
        return None
