"""`fedi audit`: who did what from the panel and the command line, for provider admins."""

import asyncio
import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from runtime.audit import AuditRecord, read, record_once

console = Console(stderr=True)


def show(
    home: Annotated[Path, typer.Option(envvar="FEDI_HOME", help="Folder holding all local state.")] = Path("var"),
    nats_url: Annotated[str | None, typer.Option(envvar="FEDI_NATS_URL", help="Default: the running `fedi up`'s.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only what this actor did.")] = None,
    action: Annotated[str | None, typer.Option(help="Only these actions (prefixes work: login).")] = None,
    days: Annotated[int | None, typer.Option(help="Only the last DAYS days.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
) -> None:
    """Print the audit log, oldest first: when, from where, who, what, to what."""
    from .cli import _bus

    url, options = _bus(home, nats_url)
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    for entry in asyncio.run(read(url, options, actor=actor, action=action, since=since)):
        if as_json:
            print(entry.model_dump_json())
            continue
        details = " ".join(f"{key}={value}" for key, value in sorted(entry.details.items()))
        outcome = "" if entry.outcome == "ok" else " REFUSED"
        print(f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.source:<5} {entry.actor:<28} {entry.action}{outcome} {entry.target} {details}".rstrip())


def note(url: str, options: dict, action: str, target: str, **details: str) -> None:
    """Record what an operations command did, as the OS user who ran it. Never stops the command."""
    entry = AuditRecord(source="cli", actor=getpass.getuser(), action=action, target=target, details=details)
    try:
        asyncio.run(record_once(url, entry, options))
    except Exception as exc:  # the bus being away must not undo what was done; say so instead
        console.print(f"[yellow]warning: not written to the audit log: {exc}[/yellow]")


def note_local(home: Path, action: str, target: str, **details: str) -> None:
    """The same, for a command that works on a local database: written when the `fedi up` stack in
    `home` runs, said plainly when it does not."""
    described = home / "stack.json"
    if not described.exists():
        console.print(f"[yellow]warning: not written to the audit log: no running stack in {home}[/yellow]")
        return
    from runtime.connection import connect_options

    stack = json.loads(described.read_text())
    credentials = json.loads(Path(stack["nats_credentials"]).read_text()) if stack.get("nats_credentials") else {}
    note(stack["nats"], connect_options(**credentials), action, target, **details)
