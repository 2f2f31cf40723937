"""`fedi`: run the embedded stack, manage operators, trace deployments."""

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console

app = typer.Typer(help="Fediversity control plane.", no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def _every_command() -> None:
    from runtime.logs import quiet_tls_close_noise

    quiet_tls_close_noise()


operator_app = typer.Typer(help="Operators of the panel.", no_args_is_help=True)
app.add_typer(operator_app, name="operator")
app.add_typer(__import__("fedi.storage", fromlist=["app"]).app, name="storage")
app.add_typer(__import__("fedi.admin", fromlist=["app"]).app, name="admin")
app.add_typer(__import__("fedi.policy", fromlist=["app"]).app, name="policy")
app.add_typer(__import__("fedi.fleet", fromlist=["app"]).app, name="fleet")
app.command("drift")(__import__("fedi.drift", fromlist=["drift"]).drift)
app.command("audit")(__import__("fedi.audit", fromlist=["show"]).show)
events_app = typer.Typer(help="The bus's traffic.", no_args_is_help=True)
app.add_typer(events_app, name="events")
dlq_app = typer.Typer(help="Dead letters: messages a consumer could not handle.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
console = Console()

Home = Annotated[Path, typer.Option(envvar="FEDI_HOME", help="Folder holding all local state.")]
NatsUrl = Annotated[str | None, typer.Option(envvar="FEDI_NATS_URL", help="Default: the running `fedi up`'s.")]


def _bus(home: Path, nats_url: str | None) -> tuple[str, dict]:
    """Where the bus is and how to log in: --nats-url with FEDI_NATS_USER/PASSWORD/CA_FILE, or the
    admin credentials of the `fedi up` stack in `home`."""
    from runtime.connection import connect_options

    if nats_url:
        env = os.environ.get
        return nats_url, connect_options(env("FEDI_NATS_USER", ""), env("FEDI_NATS_PASSWORD", ""), env("FEDI_NATS_CA_FILE", ""))
    described = home / "stack.json"
    if not described.exists():
        console.print(f"[red]no running stack described in {described}; pass --nats-url[/red]")
        raise typer.Exit(2)
    stack = json.loads(described.read_text())
    credentials = json.loads(Path(stack["nats_credentials"]).read_text()) if stack.get("nats_credentials") else {}
    return stack["nats"], connect_options(**credentials)


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
        console.print(f"  {name:22} {where}", soft_wrap=True)  # addresses and paths stay whole, even piped
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
    from .audit import note_local

    note_local(home, "operator.created", name)


@app.command()
def trace(
    deployment_id: str,
    home: Home = Path("var"),
    nats_url: NatsUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
    timeline: Annotated[bool, typer.Option("--timeline", help="With each handler's waiting and working time, and redeliveries.")] = False,
    server: Annotated[
        bool, typer.Option("--server", help="The nats-server's hops of each traced message (FEDI_<SERVICE>_SERVER_TRACE_OPERATORS, dlq replay --trace).")
    ] = False,
) -> None:
    """Print the causal tree of one deployment's events, read from the stream."""
    from .tracing import collect, render_timeline, render_tree

    url, options = _bus(home, nats_url)
    if server:
        from runtime import server_trace

        hops = asyncio.run(server_trace.collect(url, deployment_id, options))
        if not hops:
            console.print(f"[red]the server traced no message of {deployment_id}[/red]: name its operator in "
                          "FEDI_<SERVICE>_SERVER_TRACE_OPERATORS, or replay a dead letter with --trace")
            raise typer.Exit(1)
        for line in server_trace.render(hops):
            print(line)
        return
    events = asyncio.run(collect(url, deployment_id, options))
    if not events:
        console.print(f"[red]no events with correlation id {deployment_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        for event in events:
            print(json.dumps(event.as_dict()))
        return
    for line in (render_timeline if timeline else render_tree)(events):
        print(line)


@events_app.command("tail")
def events_tail(
    home: Home = Path("var"),
    nats_url: NatsUrl = None,
    operator: Annotated[str | None, typer.Option(help="Only this operator's events.")] = None,
    type_: Annotated[list[str], typer.Option("--type", help="Only these types (prefixes work: deployment).")] = [],
    deployment: Annotated[str | None, typer.Option(help="Only this deployment's events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
    history: Annotated[bool, typer.Option("--all", help="Start from the first stored event, then follow.")] = False,
) -> None:
    """Follow the bus live, a readable line per event."""
    from .events import tail
    from .streamread import stored

    async def follow() -> None:
        url, options = _bus(home, nats_url)
        events = stored(url, follow=True, history=history, options=options)
        await tail(events, operator, tuple(type_), deployment, as_json, lambda line: print(line, flush=True))

    try:
        asyncio.run(follow())
    except KeyboardInterrupt:
        pass


@dlq_app.command("list")
def dlq_list(home: Home = Path("var"), nats_url: NatsUrl = None) -> None:
    """Every dead letter: its number, where it was going, who gave up on it and why."""
    from .dlq import dead_letters

    letters = asyncio.run(dead_letters(*_bus(home, nats_url)))
    if not letters:
        console.print("no dead letters")
    for letter in letters:
        print(f"#{letter.sequence:<6} {letter.subject:<24} {letter.consumer:<32} {letter.reason}")


@dlq_app.command("show")
def dlq_show(sequence: int, home: Home = Path("var"), nats_url: NatsUrl = None) -> None:
    """One dead letter in full."""
    from .dlq import dead_letters, pretty

    letter = next((d for d in asyncio.run(dead_letters(*_bus(home, nats_url))) if d.sequence == sequence), None)
    if letter is None:
        console.print(f"[red]no dead letter #{sequence}[/red]")
        raise typer.Exit(1)
    print(f"subject:  {letter.subject}\nconsumer: {letter.consumer}\nreason:   {letter.reason}\n")
    print(pretty(letter.data))


@dlq_app.command("replay")
def dlq_replay(
    sequence: int,
    home: Home = Path("var"),
    nats_url: NatsUrl = None,
    edit: Annotated[bool, typer.Option("--edit", help="Correct the message in $EDITOR first.")] = False,
    trace_hops: Annotated[bool, typer.Option("--trace", help="Have the nats-server trace the replayed message (see fedi trace --server).")] = False,
) -> None:
    """Publish a dead letter again on its subject (after --edit, the corrected one)."""
    from .dlq import ReplayRefused, dead_letters, pretty, replay

    url, options = _bus(home, nats_url)
    body = None
    if edit:
        letter = next((d for d in asyncio.run(dead_letters(url, options)) if d.sequence == sequence), None)
        if letter is None:
            console.print(f"[red]no dead letter #{sequence}[/red]")
            raise typer.Exit(1)
        edited = click.edit(pretty(letter.data), extension=".json")
        if edited is None:
            console.print("unchanged; nothing replayed")
            raise typer.Exit(1)
        body = edited.encode()
    try:
        subject = asyncio.run(replay(url, sequence, body, options, trace=trace_hops))
    except ReplayRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"replayed #{sequence} on {subject}")
    from .audit import note

    note(url, options, "dlq.replayed", f"#{sequence}", subject=subject, edited=str(edit).lower())


bus_app = typer.Typer(help="The bus's set-up.", no_args_is_help=True)
app.add_typer(bus_app, name="bus")


@bus_app.command("dev-ca")
def bus_dev_ca(directory: Path) -> None:
    """Make a development CA and a certificate for the host `nats` (for a docker-compose trial)."""
    from runtime.devca import ensure_dev_ca

    for role, path in ensure_dev_ca(directory).items():
        console.print(f"  {role:5} {path}")


@bus_app.command("health")
def bus_health(home: Home = Path("var"), nats_url: NatsUrl = None) -> None:
    """Each consumer's backlog and redeliveries, and the dead letters waiting. Exit code 3 when unhealthy."""
    import nats as nats_client

    from runtime.bus_health import bus_health as read_health

    async def read():
        url, options = _bus(home, nats_url)
        connection = await nats_client.connect(url, **options)
        try:
            return await read_health(connection.jetstream())
        finally:
            await connection.close()

    health = asyncio.run(read())
    print(f"stored messages: {health.stored_messages}   dead letters: {health.dead_letters}")
    for consumer in health.consumers:
        flag = "  LAGGING" if consumer.lagging else ""
        print(f"  {consumer.name:<44} waiting {consumer.waiting:>6}  in flight {consumer.in_flight:>4}  redelivered {consumer.redelivered:>4}{flag}")
    if not health.healthy:
        raise typer.Exit(3)


@bus_app.command("config")
def bus_config() -> None:
    """Print the nats-server configuration generated from the contracts (docker-compose's)."""
    from runtime.permissions import compose_server_config

    print(compose_server_config(), end="")
