"""The optional state file: one JSON document, mode 0600 (it holds the keys' secrets)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from .state import GarageState


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> GarageState:
        if not self.path.exists():
            return GarageState()
        return GarageState.from_dict(json.loads(self.path.read_text()))

    def save(self, state: GarageState) -> None:
        data = json.dumps(state.to_dict(), indent=1).encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
