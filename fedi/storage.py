"""`fedi storage`: existing buckets a provider assigns to operators (US 5.1), and what storage holds.

A key's secret is read from a file or standard input, never from the command line (where `ps` and
shell histories would show it)."""

import asyncio
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Buckets: assign pre-configured ones to operators, list what storage holds.", no_args_is_help=True)
console = Console()

Home = Annotated[Path, typer.Option(envvar="FEDI_HOME", help="Folder holding all local state.")]


def _use_home(home: Path) -> None:
    """Point storage's settings at this folder's database and, under `fedi up`, its sandbox S3."""
    os.environ.setdefault("FEDI_STORAGE_DATA_DIR", str(home / "storage"))
    stack = home / "stack.json"
    if stack.exists() and "FEDI_STORAGE_S3_ENDPOINT" not in os.environ:
        os.environ["FEDI_STORAGE_S3_ENDPOINT"] = json.loads(stack.read_text())["s3_sandbox"]


def _read_secret(secret_file: Path | None) -> str:
    if secret_file is not None:
        secret = secret_file.read_text()
    elif sys.stdin.isatty():
        secret = getpass.getpass("secret access key (not shown): ")
    else:
        secret = sys.stdin.read()
    secret = secret.strip()
    if not secret:
        typer.echo("no secret given: pass --secret-file FILE or send it on standard input", err=True)
        raise typer.Exit(2)
    return secret


@app.command("assign")
def assign(
    operator: str,
    bucket: str,
    key_id: Annotated[str, typer.Option("--key-id", help="Access key id that reaches the bucket.")],
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="File holding the key's secret; default: standard input.")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="The bucket's S3 endpoint; default: storage's.")] = None,
    region: Annotated[str | None, typer.Option(help="The endpoint's S3 region; default: storage's.")] = None,
    verify: Annotated[bool, typer.Option(help="Check the key reaches the bucket (list, write, read, delete) first.")] = True,
    home: Home = Path("var"),
) -> None:
    """Assign an existing bucket to an operator; their deployments then use it instead of a new one."""
    from services.storage.cli import assign_bucket
    from services.storage.domain import Refused

    secret = _read_secret(secret_file)
    _use_home(home)
    try:
        done = asyncio.run(assign_bucket(operator, bucket, key_id, secret, endpoint, region, verify))
    except Refused as exc:
        typer.echo(f"not assigned: {exc}", err=True)
        raise typer.Exit(1) from None
    console.print(f"bucket [bold]{bucket}[/bold] at {done['endpoint']} assigned to operator [bold]{operator}[/bold] (key {key_id})")


@app.command("unassign")
def unassign(operator: str, bucket: str, home: Home = Path("var")) -> None:
    """End an assignment (refused while a deployment of the operator uses the bucket)."""
    from services.storage.cli import unassign_bucket
    from services.storage.domain import Refused

    _use_home(home)
    try:
        found = asyncio.run(unassign_bucket(operator, bucket))
    except Refused as exc:
        typer.echo(f"not unassigned: {exc}", err=True)
        raise typer.Exit(1) from None
    if not found:
        typer.echo(f"bucket {bucket} is not assigned to operator {operator}", err=True)
        raise typer.Exit(1)
    console.print(f"bucket [bold]{bucket}[/bold] no longer assigned to [bold]{operator}[/bold]")


@app.command("list")
def list_buckets(
    operator: Annotated[str | None, typer.Argument(help="Only this operator's buckets.")] = None,
    home: Home = Path("var"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per bucket.")] = False,
) -> None:
    """Every bucket storage provisioned or was assigned, with its state (active, kept, assigned)."""
    from services.storage.cli import holdings

    _use_home(home)
    rows = asyncio.run(holdings(operator))
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    table = Table("operator", "bucket", "state", "kind", "key", "resource")
    for row in rows:
        table.add_row(row["operator"], row["bucket"], row["state"], row["kind"], row["access_key_id"], row["resource"])
    console.print(table)
