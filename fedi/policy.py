"""`fedi policy`: check a provider policy file, and see what it would change for every operator
before the configurator is switched to it (the input of a fleet-wide update, US 2.3 / 3.3)."""

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="The provider's policy: VM sizes, placement, quotas, mail, DNS.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)

Home = Annotated[Path, typer.Option(envvar="FEDI_HOME", help="Folder holding all local state.")]


def _load(file: Path):
    from services.configurator.domain.policy import PolicyError, load_policy

    try:
        return load_policy(file)
    except PolicyError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@app.command("check")
def check(file: Path) -> None:
    """Validate a policy file; say what it sets."""
    policy = _load(file)
    nodes = ", ".join(node.name for node in policy.proxmox.nodes) or "the orchestrator's"
    switched = {name: getattr(policy, name).enabled for name in ("dns", "mail_relay", "ssh_keys")}
    console.print(f"{file}: valid. release {policy.release}, placement {policy.placement}, nodes {nodes}; "
                  + ", ".join(f"{name} {'on' if on else 'off'}" for name, on in switched.items()))


@app.command("impact")
def impact(
    file: Path,
    home: Home = Path("var"),
    database_url: Annotated[str | None, typer.Option(envvar="FEDI_CONFIGURATOR_DATABASE_URL", help="The configurator's database.")] = None,
) -> None:
    """For every operator, the changes FILE implies against what is applied now (nothing is executed)."""
    from services.configurator.domain.plans import policy_impact

    policy = _load(file)
    os.environ.setdefault("FEDI_CONFIGURATOR_DATA_DIR", str(home / "configurator"))
    fleet, unknown = asyncio.run(_fleet(database_url))
    for line in report(policy_impact(policy, fleet), unknown):
        console.print(line)


async def _fleet(database_url: str | None):
    """(operator, configuration, applied resources) for every operator with an applied plan, and
    the operators whose configuration is not on record (planned before it was kept)."""
    from runtime.db import Database
    from services.configurator.adapters.store import DesiredStates
    from services.configurator.settings import Settings

    settings = Settings()
    url = database_url or settings.sqlalchemy_url()
    database = Database(url)
    try:
        async with database.session() as session:
            states = await DesiredStates(session).applied_per_operator()
    except Exception as exc:
        console.print(f"[red]cannot read the configurator's database {url}: {exc.__class__.__name__}[/red]")
        raise typer.Exit(1) from None
    finally:
        await database.close()
    fleet = [(s.operator_id, s.configuration, s.resources) for s in states if s.configuration is not None]
    return fleet, [s.operator_id for s in states if s.configuration is None]


def report(impacts, unknown: list[str]) -> list[str]:
    lines, affected, changes, unfit = [], 0, {}, 0
    for item in impacts:
        if item.problems:
            unfit += 1
            lines.append(f"{item.operator}: no longer fits this policy")
            lines += [f"  {p.field}: {p.message}" for p in item.problems]
        elif item.changes:
            affected += 1
            lines.append(f"{item.operator}: {len(item.changes)} change{'s' * (len(item.changes) != 1)}")
            for change in item.changes:
                changes[change.action] = changes.get(change.action, 0) + 1
                data = f" (data: {change.data})" if change.data else ""
                lines.append(f"  {change.action:8} {change.resource_id}  {change.reason}{data}")
        else:
            lines.append(f"{item.operator}: no change")
    lines += [f"{operator}: configuration not on record; it is included once it is submitted again" for operator in unknown]
    counted = ", ".join(f"{n} {action}" for action, n in sorted(changes.items())) or "none"
    lines.append(f"{len(impacts)} operators: {affected} affected ({counted}), {unfit} no longer fit")
    return lines
