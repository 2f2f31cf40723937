"""What each sandbox VM runs: one JSON record per VM in the state directory."""

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def records(state_dir: str | os.PathLike) -> dict[str, dict]:
    """Every VM's record: {vm, address, generation, configHash, services, deployedAt}."""
    directory = Path(state_dir)
    if not directory.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def previous_record(state_dir: Path, vm: str) -> dict | None:
    path = state_dir / f"{vm}.json"
    return json.loads(path.read_text()) if path.exists() else None


@contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Serialises switches sharing a state directory, so generations never collide."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def record_switch(state_dir: Path, vm: str, address: str, config_hash: str, services: list[str]) -> dict:
    """Records a successful switch as the VM's next generation; call while `locked`."""
    previous = previous_record(state_dir, vm)
    record = {
        "vm": vm,
        "address": address,
        "generation": (previous["generation"] if previous else 0) + 1,
        "configHash": config_hash,
        "services": services,
        "deployedAt": datetime.now(UTC).isoformat(),
    }
    tmp = state_dir / f".{vm}.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, state_dir / f"{vm}.json")
    return record


FAILING = "failing.txt"


def failing(state_dir: str | os.PathLike) -> list[str]:
    """Activations to fail, set while the sandbox runs: one `VM`, `*`, `VM@RELEASE` or `*@RELEASE` a line."""
    path = Path(state_dir) / FAILING
    return [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def set_failing(state_dir: str | os.PathLike, entries: list[str]) -> None:
    path = Path(state_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / FAILING).write_text("".join(f"{entry}\n" for entry in entries))
