"""`fedi`: run the embedded stack, manage operators, trace deployments."""

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Fediversity control plane.", no_args_is_help=True, pretty_exceptions_enable=False)
operator_app = typer.Typer(help="Operators of the panel.", no_args_is_help=True)
app.add_typer(operator_app, name="operator")
console = Console()

Home = Annotated[Path, typer.Option(envvar="FEDI_HOME", help="Folder holding all local state.")]


@app.command()
def up(home: Home = Path("var"), panel_port: Annotated[int, typer.Option(envvar="FEDI_PANEL_PORT")] = 8000) -> None:
    """Run NATS, the sandbox and the five services until Ctrl-C."""
    from .stack import Stack

    stack = Stack(home, panel_port=panel_port)
    with console.status("starting nats-server, the sandbox and the five services..."):
        try:
            stack.start()
        except Exception as exc:
            stack.stop()
            console.print(f"[red]could not start:[/red] {exc} (logs in {stack.logs})")
            raise typer.Exit(1) from None
    for name, where in stack.describe().items():
        console.print(f"  {name:22} {where}")
    console.print(
        "\nCreate an operator with [bold]fedi operator create NAME[/bold] and submit a configuration "
        "(see README). Ctrl-C stops everything."
    )
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            dead = [name for name, alive in stack.alive().items() if not alive]
            if dead:
                console.print(f"[red]{', '.join(dead)} stopped unexpectedly[/red]; see {stack.logs}")
                break
            time.sleep(0.5)
    finally:
        with console.status("stopping..."):
            stack.stop()
        console.print("stopped.")


@operator_app.command("create")
def operator_create(name: str, home: Home = Path("var")) -> None:
    """Create an operator and print its API token (shown once; only a hash is kept)."""
    from services.panel.cli import create_operator

    os.environ.setdefault("FEDI_PANEL_DATA_DIR", str(home / "panel"))
    try:
        token = asyncio.run(create_operator(name))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"operator [bold]{name}[/bold] created. API token (shown once):")
    print(token)


@app.command()
def trace(
    deployment_id: str,
    home: Home = Path("var"),
    nats_url: Annotated[str | None, typer.Option(envvar="FEDI_NATS_URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
) -> None:
    """Print the causal tree of one deployment's events, read from the stream."""
    from .tracing import collect, render_tree

    url = nats_url or json.loads((home / "stack.json").read_text())["nats"]
    events = asyncio.run(collect(url, deployment_id))
    if not events:
        console.print(f"[red]no events with correlation id {deployment_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        for event in events:
            print(json.dumps(event.as_dict()))
        return
    for line in render_tree(events):
        print(line)
