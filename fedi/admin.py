"""`fedi admin create EMAIL`: the hosting provider's admins of the panel."""

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="The provider's admins of the panel.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("create")
def create(
    email: str,
    home: Annotated[Path, typer.Option(envvar="FEDI_HOME", help="Folder holding all local state.")] = Path("var"),
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Create a provider admin who logs in to the panel with EMAIL and a password."""
    from services.panel.accounts import Problems
    from services.panel.cli import create_admin
    from services.panel.settings import Settings

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = Settings() if "FEDI_PANEL_DATA_DIR" in os.environ else Settings(data_dir=home / "panel")
    try:
        asyncio.run(create_admin(email, password, settings))
    except Problems as exc:
        for field, message in exc.problems.items():
            console.print(f"[red]{field}: {message}[/red]")
        raise typer.Exit(1) from None
    console.print(f"provider admin [bold]{email}[/bold] created; log in at the panel.")
    from .audit import note_local

    note_local(home, "admin.created", email)
